"""Q&A JSON and JSON Lines in an outbox: the three shapes, metadata, encodings, rejections."""

from __future__ import annotations

import codecs
import json
from pathlib import PurePosixPath

import pytest

from daemon.cli.demo import DEMO_FILES
from handlers import qa_json
from handlers.base import FileContext, Rejected
from handlers.models import QABatch

Data = bytes | str | object  # bytes as given, text as UTF-8, anything else as JSON

SAMPLES = DEMO_FILES
DROID = SAMPLES / "outbox" / "droid"
SMA = "session_02/sma_qa_pairs.json"


def ctx(rel_path: str = SMA) -> FileContext:
    return FileContext(agent="droid", box="outbox", rel_path=PurePosixPath(rel_path))


def parse(data: Data, rel_path: str = SMA) -> QABatch | Rejected:
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, bytes):
        data = json.dumps(data).encode("utf-8")
    return qa_json.parse(data, ctx(rel_path))


def batch(data: Data, rel_path: str = SMA) -> QABatch:
    result = parse(data, rel_path)
    assert isinstance(result, QABatch), result
    return result


def rejected(data: Data, rel_path: str = SMA) -> Rejected:
    result = parse(data, rel_path)
    assert isinstance(result, Rejected), result
    return result


def sample(rel_path: str) -> QABatch:
    return batch((DROID / rel_path).read_bytes(), rel_path)


def bad(name: str) -> Rejected:
    return rejected((SAMPLES / "bad" / name).read_bytes(), name)


# --------------------------------------------------------------------------- samples


def test_sample_sma_object_gives_five_pairs_with_the_file_metadata() -> None:
    result = sample("session_02/sma_qa_pairs.json")
    assert len(result.pairs) == 5
    assert (result.indicator, result.session) == ("SMA", 2)
    assert result.category == "Price-Based Technical Indicators"
    assert {(p.indicator, p.session) for p in result.pairs} == {("SMA", 2)}


def test_sample_sma_pairs_keep_difficulty_and_position() -> None:
    first, second = sample("session_02/sma_qa_pairs.json").pairs[:2]
    assert (first.position, first.difficulty) == (1, "beginner")
    assert (second.position, second.difficulty) == (2, "intermediate")


def test_sample_ema_list_takes_indicator_from_name_and_session_from_folder() -> None:
    result = sample("session_02/ema_qa_pairs.json")
    assert len(result.pairs) == 3
    assert (result.indicator, result.session) == ("EMA", 2)
    assert result.pairs[0].question == "What is the Exponential Moving Average (EMA)?"


def test_sample_wma_jsonl_reads_prompt_chat_and_instruction_forms_with_crlf() -> None:
    result = sample("session_02/wma_qa_pairs.jsonl")
    assert [p.question for p in result.pairs] == [
        "What is a Weighted Moving Average (WMA)?",
        "How does the WMA differ from the EMA?",
        "Compute a 3-period WMA\nCloses: 10, 11, 12",
    ]
    assert result.pairs[2].answer == "(10*1 + 11*2 + 12*3) / 6 = 11.33"
    assert [p.line for p in result.pairs] == [1, 2, 3]
    assert not any("\r" in p.answer for p in result.pairs)
    assert (result.indicator, result.session) == ("WMA", 2)


def test_sample_stochastic_in_utf16_with_bom_is_read() -> None:
    result = sample("session_04/stochastic_qa_pairs.json")
    assert [p.question for p in result.pairs] == ["What is the Stochastic oscillator?"]
    assert (result.indicator, result.session) == ("STOCHASTIC", 4)


def test_bad_truncated_sample_is_invalid_json_with_line_and_column() -> None:
    result = bad("truncated_qa_pairs.json")
    assert result.reason.startswith("invalid JSON at pair 1: unexpected end of data")
    assert "expected a list of pairs" in result.reason
    assert result.line == 1
    assert result.column is not None and result.column > 100


def test_bad_no_answers_sample_has_no_usable_pair_two_without_an_answer() -> None:
    result = bad("no_answers_qa_pairs.json")
    assert result.reason.startswith("no usable pair (2 pairs without an answer)")
    assert "pair 1 has no answer (keys found: question;" in result.reason
    assert 'pair 2 has an empty answer in "answer"' in result.reason


def test_bad_wrong_shape_sample_names_keys_found_and_expected() -> None:
    assert bad("wrong_shape.json").reason == (
        "not a known Q&A shape: found keys hello; expected a list of pairs, "
        "or an object with one of qa_pairs, pairs, questions, data, items"
    )


# --------------------------------------------------------------------------- shapes and keys

PAIR = {"question": "What is RSI?", "answer": "A momentum oscillator."}


@pytest.mark.parametrize("key", ["qa_pairs", "pairs", "questions", "data", "items"])
def test_object_shape_takes_the_pair_list_under_every_alias(key: str) -> None:
    assert len(batch({key: [PAIR]}).pairs) == 1


@pytest.mark.parametrize("key", ["indicator", "indicator_name", "topic"])
def test_object_shape_takes_the_file_indicator_from_every_alias(key: str) -> None:
    assert batch({key: "RSI", "pairs": [PAIR]}).indicator == "RSI"


@pytest.mark.parametrize("key", ["session", "session_id", "session_number"])
def test_object_shape_takes_the_file_session_from_every_alias(key: str) -> None:
    assert batch({key: "07", "pairs": [PAIR]}).session == 7


def test_file_fields_beat_the_name_and_the_folder() -> None:
    result = batch({"indicator": "RSI", "session": 9, "pairs": [PAIR]}, "session_02/sma_qa.json")
    assert (result.indicator, result.session) == ("RSI", 9)
    assert (result.pairs[0].indicator, result.pairs[0].session) == ("RSI", 9)


def test_pair_fields_override_the_file_fields() -> None:
    own = {**PAIR, "indicator": "MFI", "session": "11", "category": "Volume"}
    result = batch({"indicator": "RSI", "session": 9, "category": "Momentum", "pairs": [own, PAIR]})
    first, second = result.pairs
    assert (first.indicator, first.session, first.category) == ("MFI", 11, "Volume")
    assert (second.indicator, second.session, second.category) == ("RSI", 9, "Momentum")


def test_indicator_name_suffixes_are_dropped() -> None:
    assert batch([PAIR], "obv_training_data.json").indicator == "OBV"


def test_a_file_outside_a_session_folder_has_no_session() -> None:
    assert batch([PAIR], "rsi_qa.json").session is None


def test_a_json_file_holding_json_lines_is_read_as_json_lines() -> None:
    text = json.dumps(PAIR) + "\n" + json.dumps({"q": "Q2?", "a": "A2."}) + "\n"
    result = batch(text, "session_02/rsi_qa_pairs.json")
    assert [p.line for p in result.pairs] == [1, 2]


def test_json_lines_allow_blank_lines_and_keep_line_numbers() -> None:
    text = "\n" + json.dumps(PAIR) + "\n\n  \n" + json.dumps(PAIR) + "\n"
    assert [p.line for p in batch(text, "rsi.jsonl").pairs] == [2, 5]


def test_json_lines_bad_line_is_rejected_naming_the_line() -> None:
    text = json.dumps(PAIR) + "\n" + json.dumps(PAIR) + "\n{oops}\n"
    result = rejected(text, "rsi.jsonl")
    assert "on line 3" in result.reason
    assert (result.line, result.column) == (3, 2)


def test_skipped_pairs_are_counted_and_the_others_kept() -> None:
    result = batch([PAIR, {"question": "Half?"}, [1], PAIR])
    assert [p.position for p in result.pairs] == [1, 4]
    assert [s.position for s in result.skipped] == [2, 3]
    assert result.skipped[1].reason == "pair 3 is a list, expected an object"


def test_skipped_pairs_in_a_document_know_their_line() -> None:
    text = '[\n {"q": "A?", "a": "B."},\n {"q": "C?"}\n]'
    assert batch(text).skipped[0].line == 3


# --------------------------------------------------------------------------- encodings


def test_utf8_with_bom_is_read() -> None:
    data = codecs.BOM_UTF8 + json.dumps([PAIR]).encode("utf-8")
    assert len(batch(data).pairs) == 1


def test_utf16_big_endian_with_bom_is_read() -> None:
    data = codecs.BOM_UTF16_BE + json.dumps([PAIR], ensure_ascii=False).encode("utf-16-be")
    assert batch(data).pairs[0].question == "What is RSI?"


def test_crlf_documents_are_read_with_lines() -> None:
    data = '[\r\n {"q": "A?", "a": "B."},\r\n {"q": "C?"}\r\n]'
    assert [s.line for s in batch(data).skipped] == [3]


def test_non_utf8_bytes_are_rejected_with_where() -> None:
    result = rejected(b'[{"q": "caf\xe9", "a": "x"}]')
    assert "invalid UTF-8" in result.reason
    assert (result.line, result.column) == (1, 12)


def test_nul_bytes_are_rejected_as_binary() -> None:
    assert "binary data" in rejected(b'[{"q": "a\x00", "a": "b"}]').reason


def test_a_deep_nesting_bomb_is_rejected() -> None:
    assert "nested more than 64 levels" in rejected("[" * 100_000).reason


# --------------------------------------------------------------------------- rejections


def test_an_empty_file_has_no_pairs() -> None:
    assert rejected(b"").reason.startswith("no pairs: the file is empty")


def test_an_empty_list_has_no_pairs() -> None:
    assert rejected("[]").reason.startswith("no pairs: the list is empty")


def test_an_empty_pair_list_under_a_key_has_no_pairs() -> None:
    assert rejected({"qa_pairs": []}).reason.startswith('no pairs: "qa_pairs" is an empty list')


def test_a_pair_list_that_is_not_a_list_is_rejected_saying_what_it_is() -> None:
    assert rejected({"pairs": "none"}).reason == '"pairs" is a string; expected a list of pairs'


def test_a_lone_pair_object_is_rejected_with_a_hint() -> None:
    result = rejected(PAIR)
    assert "found keys question, answer" in result.reason
    assert "a single pair? put it in a list" in result.reason


def test_a_scalar_document_is_not_a_known_shape() -> None:
    assert rejected("42").reason.startswith("not a known Q&A shape: found a number;")


def test_an_unreadable_file_session_is_rejected() -> None:
    result = rejected({"session": "soon", "pairs": [PAIR]})
    assert result.reason == (
        'the file\'s session is "soon"; expected a session number like 2 or "02"'
    )


def test_handler_takes_json_and_jsonl_in_the_outbox() -> None:
    assert qa_json.HANDLER.takes(ctx("session_02/sma_qa_pairs.json"))
    assert qa_json.HANDLER.takes(ctx("wma.JSONL"))
    assert not qa_json.HANDLER.takes(ctx("notes.txt"))
