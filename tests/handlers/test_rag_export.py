"""RAG exports: records kept below the distance threshold, indicator from metadata."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest

from daemon.cli.demo import DEMO_FILES
from handlers import rag_export
from handlers.base import FileContext, Rejected
from handlers.models import QABatch

SAMPLE = DEMO_FILES / "outbox" / "droid"
NAME = "rag_export_20251101.jsonl"


def ctx(name: str = NAME, threshold: float = 0.5) -> FileContext:
    return FileContext(
        agent="droid",
        box="outbox",
        rel_path=PurePosixPath(name),
        rag_distance_threshold=threshold,
    )


def record(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "r-1",
        "session_id": "45",
        "query": "What is the Pi Cycle Top?",
        "response": "Two moving averages crossing.",
        "distance": 0.2,
        "metadata": {"indicator": "Pi Cycle Top"},
    }
    base.update(fields)
    return base


def jsonl(*records: object) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode("utf-8")


def batch(data: bytes, name: str = NAME, threshold: float = 0.5) -> QABatch:
    result = rag_export.parse(data, ctx(name, threshold))
    assert isinstance(result, QABatch), result
    return result


def rejected(data: bytes, name: str = NAME) -> Rejected:
    result = rag_export.parse(data, ctx(name))
    assert isinstance(result, Rejected), result
    return result


def sample() -> QABatch:
    return batch((SAMPLE / NAME).read_bytes())


def test_sample_keeps_two_pairs_and_filters_one() -> None:
    result = sample()
    assert len(result.pairs) == 2
    assert result.filtered == 1
    assert result.filtered_reason == "distance at or above 0.5"
    assert result.skipped == []


def test_sample_pi_cycle_top_spans_sessions_45_and_52() -> None:
    pairs = sample().pairs
    assert [(p.indicator, p.session) for p in pairs] == [("Pi Cycle Top", 45), ("Pi Cycle Top", 52)]


def test_sample_reads_query_response_and_question_answer_records() -> None:
    first, second = sample().pairs
    assert first.question == "What is the Pi Cycle Top indicator?"
    assert second.question == "When did the Pi Cycle Top last trigger?"
    assert second.answer == "In April 2021, days before the cycle high."


def test_sample_pairs_keep_id_category_position_and_line() -> None:
    first, second = sample().pairs
    assert (first.source_id, first.category) == ("r-001", "Cycle Indicators")
    assert (first.position, first.line, second.position, second.line) == (1, 1, 2, 2)


def test_a_record_exactly_at_the_threshold_is_filtered() -> None:
    result = batch(jsonl(record(), record(distance=0.5)))
    assert (len(result.pairs), result.filtered) == (1, 1)


def test_the_threshold_comes_from_the_context() -> None:
    result = batch(jsonl(record(distance=0.3), record(distance=0.1)), threshold=0.25)
    assert (len(result.pairs), result.filtered) == (1, 1)
    assert result.filtered_reason == "distance at or above 0.25"


def test_a_record_without_distance_is_kept() -> None:
    data = jsonl({k: v for k, v in record().items() if k != "distance"})
    assert len(batch(data).pairs) == 1


def test_a_distance_given_as_text_is_read() -> None:
    assert batch(jsonl(record(distance="0.7"), record())).filtered == 1


def test_a_distance_that_is_not_a_number_skips_the_record_saying_so() -> None:
    result = batch(jsonl(record(), record(distance="far")))
    assert result.skipped[0].reason == (
        'pair 2 cannot be used: distance is "far"; expected a number like 0.31'
    )


def test_a_file_whose_every_record_is_filtered_is_read_with_nothing_to_import() -> None:
    result = batch(jsonl(record(distance=0.9), record(distance=0.7)))
    assert (result.pairs, result.filtered) == ([], 2)


def test_metadata_indicator_beats_the_records_own() -> None:
    result = batch(jsonl(record(topic="Other", indicator="Own")))
    assert result.pairs[0].indicator == "Pi Cycle Top"


def test_the_records_own_indicator_is_used_without_metadata() -> None:
    result = batch(jsonl(record(metadata=None, indicator="MVRV")))
    assert result.pairs[0].indicator == "MVRV"


def test_an_unusable_metadata_field_skips_the_record_saying_where() -> None:
    result = batch(jsonl(record(), record(metadata={"indicator": ["a"]})))
    assert result.skipped[0].reason == (
        "pair 2 cannot be used: metadata's indicator is a list; expected text"
    )


def test_a_record_without_a_query_names_query_among_the_expected_keys() -> None:
    bare = {k: v for k, v in record().items() if k != "query"}
    result = batch(jsonl(record(), bare))
    assert "expected one of query, question, q, prompt, instruction" in result.skipped[0].reason


def test_a_json_list_is_read_like_json_lines() -> None:
    data = json.dumps([record(), record(distance=0.8), {"query": "Q?"}], indent=2).encode()
    result = batch(data, "rag_export_x.json")
    assert (len(result.pairs), result.filtered) == (1, 1)
    assert [(s.position, s.line) for s in result.skipped] == [(3, data.count(b"\n") - 2)]


def test_an_object_is_rejected_naming_its_keys() -> None:
    result = rejected(json.dumps({"results": []}).encode(), "rag_export_x.json")
    assert result.reason.startswith("not a RAG export: found an object with keys results;")


def test_a_bad_line_is_rejected_naming_it() -> None:
    result = rejected(jsonl(record()) + b"\n{nope\n")
    assert "on line 2" in result.reason
    assert result.line == 2


def test_an_empty_file_is_rejected_as_having_no_records() -> None:
    assert rejected(b"\n\n").reason.startswith("no records: the file is empty")


def test_records_without_answers_and_none_filtered_are_rejected() -> None:
    result = rejected(jsonl(record(response=""), record(response=None)))
    assert result.reason.startswith("no usable pair (2 pairs without an answer)")


@pytest.mark.parametrize("name", ["rag_export.jsonl", "rag_export_1.json", "RAG_EXPORT_2.JSONL"])
def test_handler_takes_rag_export_names(name: str) -> None:
    assert rag_export.HANDLER.takes(ctx(name))


def test_handler_leaves_other_json_to_other_handlers() -> None:
    assert not rag_export.HANDLER.takes(ctx("sma_qa_pairs.json"))
