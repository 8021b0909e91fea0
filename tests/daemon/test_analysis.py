"""The fast answer analysis gives exactly the flags of the reference regexes."""

from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.ingest import analysis
from daemon.ingest.analysis import AnswerAnalysis, analyse_answer, analyse_answer_by_regex

_TERMS = (
    analysis._FORMULA_TERMS
    + analysis._EXAMPLES_TERMS
    + analysis._SOURCES_TERMS
    + analysis._CRYPTO_TERMS
    + ("studies", "eth")
)

_PIECES = st.sampled_from(
    [
        "formula",
        "Equation",
        "CALCULATED",
        "=",
        "example",
        "For Instance",
        "e.g.",
        "such as",
        "according to",
        "Source",
        "research",
        "studies",
        "study",
        "analyst",
        "http://x",
        "https://y",
        "bitcoin",
        "BTC",
        "Ethereum",
        "eth",
        "ETH.",
        "teeth",
        "method",
        "crypto",
        "blockchain",
        "on-chain",
        "DeFi",
        "altcoin",
        "token",
        "satoshi",
        " ",
        "\n",
        "plain",
        "é",
        "ſ",
        "K",
        "İ",
        "ı",
        "ß",
        "ﬁ",
        "ﬆ",
        "ſource",
        "to\u212aen",
        "calculat\u0131on",
        "\u0130nstance",
        "ETĦ",
        "ſtudies",
        "e.\u0261.",
        # "eth" beside characters the regexes' \b reads as word or not, ASCII or not
        "éeth",
        "ETHé",
        "_eth",
        "eth_",
        "1ETH",
        "eth\u0301",
        "ΕΤΗ",  # Greek capitals that look like E, T, H
        # upper case, which the scan matches without lower-casing ASCII answers
        "BITCOIN",
        "E.G.",
        "HTTPS://",
        "STUDIES",
        "FOR INSTANCE",
        # words inside or across others
        "ethereumeth",
        "sourcesuch as",
        "bit\u00adcoin",
        # lone surrogates: the answer is not UTF-8
        "\ud800",
        "\udc80eth",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_fast_flags_equal_the_reference_regexes_on_telling_words(text: str) -> None:
    assert analyse_answer(text) == analyse_answer_by_regex(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fast_flags_equal_the_reference_regexes_on_any_text(text: str) -> None:
    assert analyse_answer(text) == analyse_answer_by_regex(text)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=()), max_size=40))
def test_fast_flags_equal_the_reference_regexes_on_text_with_surrogates(text: str) -> None:
    assert analyse_answer(text) == analyse_answer_by_regex(text)


@pytest.mark.parametrize(
    ("text", "flags"),
    [
        ("ETH rose", (False, False, False, True)),
        ("the eth_price", (False, False, False, False)),
        ("éeth and ethé", (False, False, False, False)),  # é is a word letter to \b
        ("ΕΤΗ in Greek letters", (False, False, False, False)),
        ("a\u212aen: ETH, ſtudies", (False, False, True, True)),
        ("SUCH AS HTTPS://X", (False, True, True, False)),
        ("teeth\ud800 = method", (True, False, False, False)),  # a lone surrogate
        ("formulanalyst, e.g.", (True, True, True, False)),
        ("bit\u00adcoin", (False, False, False, False)),  # a soft hyphen splits the word
    ],
)
def test_tricky_answers_flags(text: str, flags: tuple[bool, bool, bool, bool]) -> None:
    """The expected flags written out, so the comparison with the regexes is not vacuous."""
    analysis = analyse_answer(text)
    assert analysis == analyse_answer_by_regex(text)
    got = (analysis.has_formula, analysis.has_examples, analysis.has_sources)
    assert (*got, analysis.crypto_specific) == flags


def test_answers_analysed_in_several_threads_at_once_get_their_own_flags() -> None:
    """Each thread scans with its own scratch space (one shared by two scans fails)."""
    answers = [("plain words " * 50_000) + word for word in ("formula", "e.g.", "source", "btc")]
    expected = [analyse_answer_by_regex(answer) for answer in answers]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(analyse_answer, answers * 8))
    assert got == expected * 8
    assert {flags.has_formula for flags in got} == {True, False}


def test_flags_of_a_typical_answer() -> None:
    flags = analyse_answer("SMA = sum / N. For example, BTC's 200-day SMA, according to analysts.")
    assert (flags.has_formula, flags.has_examples, flags.has_sources, flags.crypto_specific) == (
        True,
        True,
        True,
        True,
    )
    assert not analyse_answer("Teeth and methods.").crypto_specific


def _look_alikes() -> list[str]:
    """Every character, in the whole of Unicode, that a case-insensitive regex matches to an
    ASCII character, or whose case mappings hold one (found by brute force, not by the code
    under test)."""
    ascii_chars = [chr(code) for code in range(32, 127)]
    letters = re.compile("[" + re.escape("".join(ascii_chars)) + "]", re.IGNORECASE)
    return [
        char
        for char in map(chr, range(128, sys.maxunicode + 1))
        if letters.fullmatch(char)
        or any(c.isascii() for c in char.lower() + char.upper() + char.casefold())
    ]


@pytest.mark.parametrize("char", _look_alikes())
def test_look_alike_letters_in_every_telling_word_give_the_regexes_flags(char: str) -> None:
    """Each letter of each telling word replaced by the character, alone and in a sentence."""
    for term in _TERMS:
        for at in range(len(term)):
            word = term[:at] + char + term[at + 1 :]
            for text in (word, f"An {word.upper()} here", f"x{word}y"):
                assert analyse_answer(text) == analyse_answer_by_regex(text), text


def test_answers_with_look_alike_letters_take_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The long s, the Kelvin sign and the Turkish i's are folded, not sent to the (slow)
    regexes; an unknown case still is."""
    calls: list[str] = []

    def recording(text: str) -> AnswerAnalysis:
        calls.append(text)
        return analyse_answer_by_regex(text)

    monkeypatch.setattr(analysis, "analyse_answer_by_regex", recording)
    flags = analyse_answer("ſource: a to\u212aen's calculat\u0131on, \u0130nstance, ETH")
    assert (flags.has_formula, flags.has_sources, flags.crypto_specific) == (True, True, True)
    assert calls == []
    monkeypatch.setitem(analysis._FOLDS, "ſ", analysis._UNKNOWN)
    analyse_answer("ſource")
    assert calls == ["ſource"]


@pytest.mark.parametrize(
    "text",
    [
        "source.g.",
        "according token",
        "btcalculated",
        "formulanalyst",
        "Ethereum",
        "eth=",
        "studies",
    ],
)
def test_words_that_overlap_each_set_their_flag(text: str) -> None:
    """One pass finds every word, those sharing letters with another word too."""
    flags = analyse_answer(text)
    assert flags == analyse_answer_by_regex(text)
    assert flags != analyse_answer_by_regex("nothing telling")


def test_a_lone_surrogate_is_read_by_the_regexes() -> None:
    text = "the formula \ud800 for bitcoin"
    assert analyse_answer(text) == analyse_answer_by_regex(text)
    assert analyse_answer(text).has_formula and analyse_answer(text).crypto_specific
