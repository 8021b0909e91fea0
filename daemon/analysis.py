"""The analysis columns of the legacy schema, computed once per answer.

The flags mean what the users' integration script meant by them: a case-insensitive search
for a few telling words (the ``*_RE`` patterns below are that definition). Scanning a 3 KB
answer with such a regex costs ~0.5 ms, so answers take an exact fast path: one
lower-casing, then plain substring tests, with the regex only where a word boundary matters.
Answers holding a character whose case-insensitive matching differs from ``lower()`` (the
Kelvin sign, the long s, the Turkish i's) use the regexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
_SOURCES_TERMS = ("according to", "source", "research", "study", "analyst", "http://",
                  "https://")  # "studies" contains "stud" but not "study": listed via regex
_CRYPTO_TERMS = ("bitcoin", "btc", "ethereum", "crypto", "blockchain", "on-chain", "defi",
                 "altcoin", "token", "satoshi")
_ETH_WORD = re.compile(r"\beth\b")
_STUDIES = "studies"


@dataclass(frozen=True)
class AnswerAnalysis:
    answer_length: int
    has_formula: bool
    has_examples: bool
    has_sources: bool
    crypto_specific: bool


_PLAIN_CHAR: dict[str, bool] = {}


def _plain(char: str) -> bool:
    """Whether a non-ASCII character can never match an ASCII letter of the patterns.

    The regexes' IGNORECASE matches 'K' (Kelvin sign) to k, 'ſ' to s, 'ı' to i and 'İ' to
    i; ``lower()`` does not, or not alike. Any character with an ASCII letter in its case
    mappings (and those two) sends the answer to the regexes; every other one is "plain".
    """
    verdict = _PLAIN_CHAR.get(char)
    if verdict is None:
        mapped = char.lower() + char.upper() + char.casefold()
        verdict = char not in "ıſ" and not any(c.isascii() for c in mapped)
        if len(_PLAIN_CHAR) < 65_536:
            _PLAIN_CHAR[char] = verdict
    return verdict


def analyse_answer(answer: str) -> AnswerAnalysis:
    """Length and flags for one answer (question text is not considered, as in legacy rows)."""
    if not answer.isascii() and not all(_plain(c) for c in set(answer) if not c.isascii()):
        return analyse_answer_by_regex(answer)
    text = answer.lower()
    return AnswerAnalysis(
        answer_length=len(answer),
        has_formula=any(term in text for term in _FORMULA_TERMS),
        has_examples=any(term in text for term in _EXAMPLES_TERMS),
        has_sources=any(term in text for term in _SOURCES_TERMS) or _STUDIES in text,
        crypto_specific=any(term in text for term in _CRYPTO_TERMS)
        or ("eth" in text and _ETH_WORD.search(text) is not None),
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
