"""The analysis columns of the legacy schema, computed once per answer.

The flags mean what the users' integration script meant by them: a case-insensitive search
for a few telling words (the ``*_RE`` patterns below are that definition). Scanning a long
answer with such a regex is slow, and so is a substring test a word (each is a scan of the
answer), so answers take an exact fast path: one Hyperscan pass that finds every telling word
at once, each flag reported once (its words share the flag as their id), with ASCII
case-insensitivity, which on ASCII text is exactly the regexes' IGNORECASE; the regex only
where a word boundary matters (``eth``). Hyperscan reports every occurrence, overlapping ones
too, so no word hides another.
In an answer with non-ASCII text, the few non-ASCII letters that match an ASCII letter under
the regexes' IGNORECASE (the long s is an s, the Kelvin sign and the dotless and dotted i's are
k and i) are replaced by that letter first. Which letters these are is asked of the regex
engine itself, once per character met.
"""

from __future__ import annotations

import re
import threading
from typing import Any, NamedTuple

import hyperscan

FORMULA_RE = re.compile(r"formula|equation|calculat|=", re.IGNORECASE)
EXAMPLES_RE = re.compile(r"example|for instance|e\.g\.|such as", re.IGNORECASE)
SOURCES_RE = re.compile(
    r"according to|source|research|study|studies|analyst|https?://", re.IGNORECASE
)
CRYPTO_RE = re.compile(
    r"bitcoin|btc|ethereum|\beth\b|crypto|blockchain|on-chain|defi|altcoin|token|satoshi",
    re.IGNORECASE,
)

_FORMULA_TERMS = ("formula", "equation", "calculat", "=")
_EXAMPLES_TERMS = ("example", "for instance", "e.g.", "such as")
_SOURCES_TERMS = (
    "according to",
    "source",
    "research",
    "study",
    "analyst",
    "http://",
    "https://",
)  # "studies" contains "stud" but not "study": listed via regex
_CRYPTO_TERMS = (
    "bitcoin",
    "btc",
    "ethereum",
    "crypto",
    "blockchain",
    "on-chain",
    "defi",
    "altcoin",
    "token",
    "satoshi",
)
_ETH_WORD = re.compile(r"\beth\b", re.IGNORECASE)  # CRYPTO_RE's one word with boundaries
_STUDIES = "studies"

# Every telling word in one database, reported with the flag it sets as its id; "eth" only as
# a candidate for ``_ETH_WORD``.
_FORMULA, _EXAMPLES, _SOURCES, _CRYPTO, _ETH = range(5)
_WORDS_BY_FLAG = (
    (_FORMULA, _FORMULA_TERMS),
    (_EXAMPLES, _EXAMPLES_TERMS),
    (_SOURCES, (*_SOURCES_TERMS, _STUDIES)),
    (_CRYPTO, _CRYPTO_TERMS),
    (_ETH, ("eth",)),
)


def _database() -> hyperscan.Database:
    """The words as literals, ASCII case-insensitive; SINGLEMATCH reports each id (flag) at
    most once a scan, so an answer costs at most five callbacks, not one per occurrence."""
    pairs = [(flag, word) for flag, words in _WORDS_BY_FLAG for word in words]
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[word.encode() for _, word in pairs],
        ids=[flag for flag, _ in pairs],
        elements=len(pairs),
        flags=[hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH] * len(pairs),
        literal=True,
    )
    return database


_DATABASE = _database()
_PER_THREAD = threading.local()  # a scan's scratch space is one thread's at a time


def _new_scratch() -> hyperscan.Scratch:
    scratch = _PER_THREAD.scratch = hyperscan.Scratch(_DATABASE)
    return scratch


def _found(flag: int, start: int, end: int, flags: int, found: Any) -> None:
    """Hyperscan's match handler; its context, typed ``object`` there, is the scan's set."""
    found.add(flag)


class AnswerAnalysis(NamedTuple):
    """An answer's length and flags. A named tuple: one is built for every answer imported,
    and a large file's are unpickled from the second process, 1,000 a chunk (0.25 ms, against
    1.3 ms as a frozen dataclass with slots)."""

    answer_length: int
    has_formula: bool
    has_examples: bool
    has_sources: bool
    crypto_specific: bool


_PRINTABLE_ASCII = [chr(code) for code in range(32, 127)]  # what the patterns are made of
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_UNKNOWN = "\x00"  # a character no fold is known for: the answer goes to the regexes
_FOLDS: dict[str, str] = {}


def _fold(char: str) -> str:
    """What a non-ASCII character is, for the patterns: the one ASCII character the regexes'
    IGNORECASE matches it to, itself when it matches none, or ``_UNKNOWN``."""
    fold = _FOLDS.get(char)
    if fold is None:
        matched = {
            c.lower() for c in _PRINTABLE_ASCII if re.fullmatch(re.escape(c), char, re.IGNORECASE)
        }
        if len(matched) == 1:
            fold = matched.pop()
        elif not matched:
            fold = char
        else:
            fold = _UNKNOWN
        if len(_FOLDS) < 65_536:
            _FOLDS[char] = fold
    return fold


def _folded(answer: str) -> str | None:
    """A non-ASCII answer with its look-alike letters replaced; None if one is unknown (the
    scan's ASCII case-insensitivity does the rest: no other character matches a pattern)."""
    for char in set(_NON_ASCII.findall(answer)):
        fold = _fold(char)
        if fold == _UNKNOWN:
            return None
        if fold != char:
            answer = answer.replace(char, fold)
    return answer


def analyse_answer(answer: str) -> AnswerAnalysis:
    """Length and flags for one answer (question text is not considered, as in legacy rows)."""
    text = answer if answer.isascii() else _folded(answer)
    if text is None:
        return analyse_answer_by_regex(answer)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate (not UTF-8): the regexes read it
        return analyse_answer_by_regex(answer)
    found: set[int] = set()
    scratch = getattr(_PER_THREAD, "scratch", None) or _new_scratch()
    _DATABASE.scan(data, _found, 0, found, scratch)  # positionally: (handler, flags, context)
    return AnswerAnalysis(  # positionally: keywords cost a tenth of this call
        len(answer),
        _FORMULA in found,
        _EXAMPLES in found,
        _SOURCES in found,
        _CRYPTO in found or (_ETH in found and _ETH_WORD.search(answer) is not None),
    )


def analyse_answer_by_regex(answer: str) -> AnswerAnalysis:
    """The reference definition: one case-insensitive regex per flag."""
    return AnswerAnalysis(
        answer_length=len(answer),
        has_formula=FORMULA_RE.search(answer) is not None,
        has_examples=EXAMPLES_RE.search(answer) is not None,
        has_sources=SOURCES_RE.search(answer) is not None,
        crypto_specific=CRYPTO_RE.search(answer) is not None,
    )
