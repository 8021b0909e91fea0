"""What of a text is compared: its words (the shingles) and its anchors.

Words are NFKC-normalized, case-folded, split on anything not a letter, digit or ``%``, with
function words and the corpus's own filler ("crypto markets", "in practice") dropped and a
plural or verb ending cut, so the wording of a question varies without its shingles varying
much. Anchors are the words a paraphrase never changes and a different question often changes
alone: numbers, timeframes, indicator names and directions ("RSI above 70" vs "RSI above 30",
"RSI" vs "MFI", "daily" vs "weekly", "above" vs "below"). Two texts are near-duplicates only
when their anchors are the same set, however alike the rest reads (``confirm``).

The pair's own indicator name, when the question names it whole, counts as one word (and one
anchor), however many words it has: "When did the Pi Cycle Top last trigger?" and "What is the
Pi Cycle Top indicator?" share a name, not three words of four (a name of three words would
otherwise make any two short questions about it look alike).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass


def _listed(words: str) -> frozenset[str]:
    """A word list written as text, one space (or line) between words."""
    return frozenset(words.split())


_WORD = re.compile(r"[^\W_]+%?|%[^\W_]+", re.UNICODE)

# function words, question words and the filler every question of this corpus may carry
STOP_WORDS = _listed(
    """a an the of in on at to for from by with and or but as is are was were be been being do
    does did doing done it its this that these those there here what which who whom whose when
    where why how can could should would will shall may might must i you we they he she them us
    my your our their me about into over under than then so such very just also too exactly
    briefly basically generally typically usually really actually in practice please explain
    describe tell crypto cryptocurrency cryptocurrencies market markets trading trader traders
    bitcoin btc altcoin altcoins coin coins token tokens asset assets"""
)
# a number is an anchor by itself (any word with a digit); these words are anchors too
TIMEFRAME_WORDS = _listed(
    """second seconds minute minutes min mins minutely hour hours hourly h day days daily d
    week weeks weekly w month months monthly year years yearly annual intraday overnight
    scalping swing"""
)
INDICATOR_WORDS = _listed(
    """rsi macd ema sma wma hma dema tema vwap vwma obv atr adx adxr dmi cci mfi roc trix kdj
    ppo pvo cmf cmo tsi uo ao bollinger stochastic stoch ichimoku fibonacci fib williams %r
    parabolic sar psar keltner donchian aroon supertrend pivot pivots chaikin elder vortex
    coppock ulcer momentum envelope envelopes zigzag heikin ashi renko kst dpo nvi pvi mvrv
    nupl sopr nvt hodl puell pi rainbow stablecoin funding basis"""
)
DIRECTION_WORDS = _listed(
    """above below bullish bearish buy sell long short overbought oversold
    uptrend downtrend rising falling rises falls higher lower positive negative"""
)


@dataclass(frozen=True)
class Shingles:
    """A text as compared: its word set (MinHashed, then confirmed) and its anchors."""

    words: frozenset[str]
    anchors: frozenset[str]


def stem(word: str) -> str:
    """A plural or verb ending cut, the cheap way: "signals", "signaled", "signaling" meet."""
    for ending in ("ing", "ed", "es", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3 and not word.endswith("ss"):
            return word[: -len(ending)]
    return word


def tokens(text: str) -> list[str]:
    if text.isascii():  # NFKC leaves ASCII alone, and casefold is lower there: the short way
        return _WORD.findall(text.lower())
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


@functools.lru_cache(maxsize=1 << 12)
def _name(indicator: str) -> tuple[frozenset[str], str]:
    """An indicator name's tokens (stop words dropped), and the one word it makes."""
    name = [t for t in tokens(indicator) if t not in STOP_WORDS]
    return frozenset(name), "=" + " ".join(name)  # not a word a text can hold: no "=" in tokens


_ANCHOR_WORDS = TIMEFRAME_WORDS | INDICATOR_WORDS | DIRECTION_WORDS


@functools.lru_cache(maxsize=1 << 16)
def _word(token: str) -> tuple[str, bool] | None:
    """A token as compared: its word (stemmed) and whether it is an anchor; None for a stop
    word. Cached: a corpus's questions reuse a few thousand tokens."""
    if token in STOP_WORDS:
        return None
    return stem(token), any(ch.isdigit() for ch in token) or token in _ANCHOR_WORDS


def shingles(text: str, indicator: str | None = None) -> Shingles:
    """The words and anchors of ``text``, a question about ``indicator`` (when known)."""
    found = tokens(text)
    name, whole = _name(indicator) if indicator else (frozenset(), "")
    named = bool(name) and name.issubset(found)
    words: set[str] = set()
    anchors: set[str] = set()
    if named:
        words.add(whole)
        anchors.add(whole)
    for token in found:
        word = _word(token)
        if word is None or (named and token in name):
            continue
        if word[1]:
            anchors.add(token)
        words.add(word[0])
    return Shingles(frozenset(words), frozenset(anchors))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
