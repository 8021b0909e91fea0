"""Shared JSON reading: documents, JSON Lines, nesting guard, and the PAIR rules."""

from __future__ import annotations

import pytest

from handlers.base import Rejected
from handlers.jsonio import (
    MAX_DEPTH,
    JsonDocument,
    Meta,
    PairCollector,
    iter_json_lines,
    load_document,
    load_json,
    load_records,
    pair_from_record,
    session_number,
)
from handlers.models import QAPair, SkippedPair

DEFAULTS = Meta(indicator="SMA", session=2, category="Trend")


def as_pair(record: object, position: int = 1, line: int | None = None) -> QAPair:
    result = pair_from_record(record, position, line)
    assert isinstance(result, QAPair), result
    return result


def as_skip(record: object, position: int = 1, line: int | None = None) -> SkippedPair:
    result = pair_from_record(record, position, line)
    assert isinstance(result, SkippedPair), result
    return result


# --------------------------------------------------------------------------- load_json


def test_load_json_returns_the_value() -> None:
    assert load_json('{"a": [1, "x"]}') == {"a": [1, "x"]}


def test_load_json_rejects_truncated_text_with_line_and_column() -> None:
    result = load_json('{\n  "a": [1,')
    assert isinstance(result, Rejected)
    assert result.reason.startswith("invalid JSON: unexpected end of data")
    assert "; expected " in result.reason
    assert (result.line, result.column) == (2, 11)


def test_load_json_names_what_was_expected_in_the_reason() -> None:
    result = load_json("[1, x]", expected="a list of pairs")
    assert isinstance(result, Rejected)
    assert "expected" in result.reason
    assert (result.line, result.column) == (1, 5)


def test_load_json_column_counts_characters_not_bytes() -> None:
    result = load_json('["é€", x]')
    assert isinstance(result, Rejected)
    assert result.column == 8


def test_load_json_rejects_empty_text_as_empty() -> None:
    result = load_json("  \n ")
    assert isinstance(result, Rejected)
    assert "empty" in result.reason


def test_load_json_rejects_a_deep_nesting_bomb_without_parsing_it() -> None:
    result = load_json("[" * 100_000)
    assert isinstance(result, Rejected)
    assert f"nested more than {MAX_DEPTH} levels" in result.reason
    assert (result.line, result.column) == (1, MAX_DEPTH + 1)


def test_load_json_accepts_nesting_up_to_the_limit() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert not isinstance(load_json(text), Rejected)


def test_load_json_ignores_brackets_inside_strings_when_guarding_depth() -> None:
    assert load_json('["' + "[{" * 500 + '\\"["]') == ["[{" * 500 + '"[']


def test_load_json_rejects_text_after_the_document() -> None:
    result = load_json('{"a": 1}\n{"a": 2}')
    assert isinstance(result, Rejected)
    assert "after document" in result.reason
    assert result.line == 2


# --------------------------------------------------------------------------- documents


def test_load_document_knows_the_line_each_pair_starts_on() -> None:
    doc = load_document('{"qa_pairs": [\n  {"q": "a"},\n\n  {"q": "b"}\n]}')
    assert isinstance(doc, JsonDocument)
    assert doc.line("qa_pairs", 0) == 2
    assert doc.line("qa_pairs", 1) == 4
    assert doc.line("qa_pairs", 2) is None


def test_load_document_lines_are_not_fooled_by_commas_in_strings() -> None:
    doc = load_document('[\n{"q": "a, [b], {c}"},\n{"q": "d"}\n]')
    assert isinstance(doc, JsonDocument)
    assert (doc.line(0), doc.line(1)) == (2, 3)


# --------------------------------------------------------------------------- JSON Lines


def test_json_lines_gives_each_record_with_its_line_number() -> None:
    assert iter_json_lines('{"a": 1}\n{"b": 2}\n') == [(1, {"a": 1}), (2, {"b": 2})]


def test_json_lines_allows_blank_lines_and_crlf() -> None:
    assert iter_json_lines('{"a": 1}\r\n\r\n   \r\n{"b": 2}\r\n') == [(1, {"a": 1}), (4, {"b": 2})]


def test_json_lines_rejects_a_bad_line_naming_its_number_and_column() -> None:
    result = iter_json_lines('{"a": 1}\n\n{"b": }\n{"c": 3}')
    assert isinstance(result, Rejected)
    assert "line 3" in result.reason
    assert (result.line, result.column) == (3, 7)


def test_json_lines_keeps_unicode_line_separators_inside_strings() -> None:
    assert iter_json_lines('{"a": "x\u2028y"}') == [(1, {"a": "x\u2028y"})]


def test_json_lines_rejects_a_deeply_nested_line() -> None:
    result = iter_json_lines('{"a": 1}\n' + "[" * 1000)
    assert isinstance(result, Rejected)
    assert "nested more than" in result.reason
    assert result.line == 2


def test_load_records_reads_a_json_named_file_that_is_json_lines() -> None:
    doc = load_records('{"q": "a"}\n{"q": "b"}\n', "x.json", expected="pairs")
    assert isinstance(doc, JsonDocument)
    assert doc.value == [{"q": "a"}, {"q": "b"}]
    assert doc.json_lines


def test_load_records_reads_a_jsonl_named_file_that_is_one_document() -> None:
    doc = load_records('[\n {"q": "a"}\n]', "x.jsonl", expected="pairs")
    assert isinstance(doc, JsonDocument)
    assert doc.value == [{"q": "a"}]


def test_load_records_reports_the_document_error_for_a_broken_json_file() -> None:
    result = load_records('{"q": "a"}\n{"q": ', "x.json", expected="pairs")
    assert isinstance(result, Rejected)
    assert result.reason.startswith("invalid JSON:")


# --------------------------------------------------------------------------- PAIR rules


@pytest.mark.parametrize("key", ["question", "q", "prompt", "instruction"])
def test_pair_takes_the_question_from_every_alias(key: str) -> None:
    assert as_pair({key: " What? ", "answer": "That."}).question == "What?"


@pytest.mark.parametrize("key", ["answer", "a", "response", "completion", "output"])
def test_pair_takes_the_answer_from_every_alias(key: str) -> None:
    assert as_pair({"question": "What?", key: " That. "}).answer == "That."


def test_pair_appends_input_to_the_question_on_a_new_line() -> None:
    pair = as_pair({"instruction": "Compute", "input": " 1 + 1 ", "output": "2"})
    assert pair.question == "Compute\n1 + 1"


def test_pair_ignores_an_empty_input() -> None:
    assert as_pair({"instruction": "Compute", "input": "", "output": "2"}).question == "Compute"


def test_pair_reads_the_chat_form_first_user_then_first_assistant_after_it() -> None:
    record = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "What is RSI?"},
            {"role": "user", "content": "Ignored."},
            {"role": "assistant", "content": "A momentum oscillator."},
            {"role": "assistant", "content": "Ignored too."},
        ]
    }
    pair = as_pair(record)
    assert (pair.question, pair.answer) == ("What is RSI?", "A momentum oscillator.")


def test_pair_reads_chat_content_given_as_text_parts() -> None:
    record = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is OBV?"}]},
            {"role": "assistant", "content": "On-balance volume."},
        ]
    }
    assert as_pair(record).question == "What is OBV?"


def test_pair_chat_without_an_assistant_reply_is_skipped_saying_so() -> None:
    skip = as_skip({"messages": [{"role": "user", "content": "What?"}]}, position=4)
    assert skip.reason.startswith("pair 4 has no answer: messages has no assistant message")


@pytest.mark.parametrize("key", ["difficulty", "difficulty_level"])
def test_pair_reads_difficulty_from_both_aliases(key: str) -> None:
    assert as_pair({"q": "Q?", "a": "A.", key: "beginner"}).difficulty == "beginner"


def test_pair_turns_a_numeric_id_into_text() -> None:
    assert as_pair({"q": "Q?", "a": "A.", "id": 17}).source_id == "17"


@pytest.mark.parametrize("key", ["indicator", "indicator_name", "topic"])
def test_pair_reads_its_indicator_from_every_alias(key: str) -> None:
    assert as_pair({"q": "Q?", "a": "A.", key: "RSI"}).indicator == "RSI"


def test_pair_indicator_drops_a_parenthesised_long_name() -> None:
    assert as_pair(
        {"q": "Q?", "a": "A.", "indicator": "SMA (Simple Moving Average)"}
    ).indicator == ("SMA")


@pytest.mark.parametrize("key", ["session", "session_id", "session_number"])
def test_pair_reads_its_session_from_every_alias(key: str) -> None:
    assert as_pair({"q": "Q?", "a": "A.", key: 7}).session == 7


@pytest.mark.parametrize(("value", "number"), [("45", 45), ("02", 2), (3.0, 3), ("session_02", 2)])
def test_session_numbers_are_read_from_text_and_whole_floats(value: object, number: int) -> None:
    assert session_number(value) == number


@pytest.mark.parametrize("value", ["two", True, 2.5, -1, 10**12, [2], ""])
def test_session_numbers_refuse_what_is_not_one(value: object) -> None:
    assert session_number(value) is None


def test_pair_with_an_unreadable_session_is_skipped_naming_the_value() -> None:
    skip = as_skip({"q": "Q?", "a": "A.", "session": "two"}, position=2)
    assert skip.reason == (
        'pair 2 cannot be used: session is "two"; expected a session number like 2 or "02"'
    )


def test_pair_reads_its_category() -> None:
    assert as_pair({"q": "Q?", "a": "A.", "category": " Momentum "}).category == "Momentum"


def test_pair_without_an_answer_names_the_keys_found_and_expected() -> None:
    skip = as_skip({"question": "What?"}, position=2, line=9)
    assert skip.reason == (
        "pair 2 has no answer (keys found: question; "
        "expected one of answer, a, response, completion, output, or chat messages)"
    )
    assert (skip.position, skip.line) == (2, 9)


def test_pair_with_an_empty_question_says_where_it_is_empty() -> None:
    skip = as_skip({"q": "   ", "a": "A."})
    assert skip.reason.startswith('pair 1 has an empty question in "q" (keys found: q, a;')


def test_pair_with_a_non_text_answer_says_what_it_is() -> None:
    skip = as_skip({"q": "Q?", "answer": 42})
    assert skip.reason.startswith('pair 1 has an answer in "answer" that is a number')


def test_pair_without_question_or_answer_names_both() -> None:
    skip = as_skip({"text": "x"})
    assert skip.reason.startswith("pair 1 has no question and no answer (keys found: text;")


def test_a_record_that_is_a_list_is_skipped_as_not_an_object() -> None:
    assert as_skip([1, 2], position=3).reason == "pair 3 is a list, expected an object"


def test_a_pair_carries_only_its_own_metadata() -> None:
    pair = as_pair({"q": "Q?", "a": "A."})
    assert (pair.indicator, pair.session, pair.category) == (None, None, None)


# --------------------------------------------------------------------------- the collector


def test_collector_rejects_a_file_whose_every_pair_was_skipped_with_counts() -> None:
    collector = PairCollector()
    collector.add({"question": "A?"}, 1, 1, defaults=DEFAULTS)
    collector.add({"answer": "B."}, 2, 2, defaults=DEFAULTS)
    collector.add({"question": "C?"}, 3, 3, defaults=DEFAULTS)
    result = collector.batch()
    assert isinstance(result, Rejected)
    assert result.reason.startswith(
        "no usable pair (2 pairs without an answer, 1 pair without a question): "
        "line 1: pair 1 has no answer"
    )


def test_collector_shows_only_the_first_few_reasons() -> None:
    collector = PairCollector()
    for position in range(1, 8):
        collector.add({"question": "A?"}, position, None, defaults=DEFAULTS)
    result = collector.batch()
    assert isinstance(result, Rejected)
    assert result.reason.count("has no answer") == 3
    assert result.reason.endswith("; and 4 more pairs")


def test_collector_fills_what_a_pair_does_not_say_from_the_defaults() -> None:
    collector = PairCollector()
    collector.add({"q": "Q?", "a": "A.", "session": 9}, 1, None, defaults=DEFAULTS)
    pair = collector.pairs[0]
    assert (pair.indicator, pair.session, pair.category) == ("SMA", 9, "Trend")
