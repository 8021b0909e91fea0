"""The fast answer analysis gives exactly the flags of the reference regexes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.analysis import analyse_answer, analyse_answer_by_regex

_PIECES = st.sampled_from([
    "formula", "Equation", "CALCULATED", "=", "example", "For Instance", "e.g.", "such as",
    "according to", "Source", "research", "studies", "study", "analyst", "http://x",
    "https://y", "bitcoin", "BTC", "Ethereum", "eth", "ETH.", "teeth", "method", "crypto",
    "blockchain", "on-chain", "DeFi", "altcoin", "token", "satoshi", " ", "\n", "plain",
    "é", "ſ", "K", "İ",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_fast_flags_equal_the_reference_regexes_on_telling_words(text: str) -> None:
    assert analyse_answer(text) == analyse_answer_by_regex(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fast_flags_equal_the_reference_regexes_on_any_text(text: str) -> None:
    assert analyse_answer(text) == analyse_answer_by_regex(text)


def test_flags_of_a_typical_answer() -> None:
    flags = analyse_answer("SMA = sum / N. For example, BTC's 200-day SMA, according to analysts.")
    assert (flags.has_formula, flags.has_examples, flags.has_sources, flags.crypto_specific) == (
        True, True, True, True)
    assert not analyse_answer("Teeth and methods.").crypto_specific
