"""The analysis columns of the legacy schema, computed once per answer.

The flags mean what the users' integration script meant by them: a case-insensitive search
for a few telling words (the ``*_RE`` patterns below are that definition). Scanning a long
answer with such a regex is slow, and so is a substring test a word (each is a scan of the
answer), so answers take an exact fast path: one lower-casing, then one Aho-Corasick pass
that finds every occurrence of every word at once (overlapping ones too, so no word hides
another), with the regex only where a word boundary matters (``eth``).
A few non-ASCII letters match an ASCII letter under the regexes' IGNORECASE although
``lower()`` does not make them one (the long s is an s, the Kelvin sign and the dotless and
dotted i's are k and i): they are replaced by that letter first. Which letters these are is
asked of the regex engine itself, once per character met.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ahocorasick_rs

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
_ETH_WORD = re.compile(r"\beth\b")
_STUDIES = "studies"

# Every telling word in one automaton, each found with the flag it sets (its index in
# ``_FLAG_OF``); "eth" only as a candidate for ``_ETH_WORD``.
_FORMULA, _EXAMPLES, _SOURCES, _CRYPTO, _ETH = range(5)
_WORDS_BY_FLAG = (
    (_FORMULA, _FORMULA_TERMS),
    (_EXAMPLES, _EXAMPLES_TERMS),
    (_SOURCES, (*_SOURCES_TERMS, _STUDIES)),
    (_CRYPTO, _CRYPTO_TERMS),
    (_ETH, ("eth",)),
)
_FLAG_OF = [flag for flag, words in _WORDS_BY_FLAG for _ in words]
_FINDER = ahocorasick_rs.AhoCorasick(
    [word for _, words in _WORDS_BY_FLAG for word in words],
    # a DFA: the fastest search, at a few hundred kB for these ~27 words
    implementation=ahocorasick_rs.Implementation.DFA,
)


@dataclass(frozen=True)
class AnswerAnalysis:
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
    IGNORECASE matches it to, itself when it matches none (and ``lower()`` keeps it
    non-ASCII), or ``_UNKNOWN``."""
    fold = _FOLDS.get(char)
    if fold is None:
        matched = {
            c.lower() for c in _PRINTABLE_ASCII if re.fullmatch(re.escape(c), char, re.IGNORECASE)
        }
        if len(matched) == 1:
            fold = matched.pop()
        elif not matched and not any(c.isascii() for c in char.lower()):
            fold = char
        else:
            fold = _UNKNOWN
        if len(_FOLDS) < 65_536:
            _FOLDS[char] = fold
    return fold


def _lowered(answer: str) -> str | None:
    """The answer lower-cased, with the look-alike letters replaced; None if one is unknown."""
    if answer.isascii():
        return answer.lower()
    for char in set(_NON_ASCII.findall(answer)):
        fold = _fold(char)
        if fold == _UNKNOWN:
            return None
        if fold != char:
            answer = answer.replace(char, fold)
    return answer.lower()


def analyse_answer(answer: str) -> AnswerAnalysis:
    """Length and flags for one answer (question text is not considered, as in legacy rows)."""
    text = _lowered(answer)
    if text is None:
        return analyse_answer_by_regex(answer)
    try:
        found = {
            _FLAG_OF[word] for word, _, _ in _FINDER.find_matches_as_indexes(text, overlapping=True)
        }
    except UnicodeEncodeError:  # a lone surrogate (not UTF-8): the regexes read it
        return analyse_answer_by_regex(answer)
    return AnswerAnalysis(
        answer_length=len(answer),
        has_formula=_FORMULA in found,
        has_examples=_EXAMPLES in found,
        has_sources=_SOURCES in found,
        crypto_specific=_CRYPTO in found or (_ETH in found and _ETH_WORD.search(text) is not None),
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
