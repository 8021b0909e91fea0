"""Multi-session exports: every pair with its session and topic, the file stem as source."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from daemon.cli.demo import DEMO_FILES
from handlers import export
from handlers.base import FileContext, Rejected
from handlers.models import QABatch

NAME = "database_qa_export_20251030_012343.json"
SAMPLE = DEMO_FILES / "outbox" / "claude" / NAME
PAIR = {"question": "What is gas?", "answer": "A measure of computation."}


def ctx(name: str = NAME) -> FileContext:
    return FileContext(agent="claude", box="outbox", rel_path=PurePosixPath(name))


def parse(value: object) -> QABatch | Rejected:
    return export.parse(json.dumps(value, indent=1).encode("utf-8"), ctx())


def batch(value: object) -> QABatch:
    result = parse(value)
    assert isinstance(result, QABatch), result
    return result


def rejected(value: object) -> Rejected:
    result = parse(value)
    assert isinstance(result, Rejected), result
    return result


def sample() -> QABatch:
    result = export.parse(SAMPLE.read_bytes(), ctx())
    assert isinstance(result, QABatch), result
    return result


def test_sample_gives_five_pairs_from_three_sessions() -> None:
    result = sample()
    assert len(result.pairs) == 5
    assert {p.session for p in result.pairs} == {126, 5, 2}


def test_sample_pairs_carry_their_session_and_topic_as_indicator() -> None:
    pairs = sample().pairs
    assert [(p.session, p.indicator) for p in pairs] == [
        (126, "Smart Contract Gas Optimization"),
        (126, "Smart Contract Gas Optimization"),
        (5, "AI Ethics"),
        (2, "SMA"),
        (2, "SMA"),
    ]


def test_sample_positions_run_across_sessions_lines_only_where_a_reason_needs_them() -> None:
    pairs = sample().pairs
    assert [p.position for p in pairs] == [1, 2, 3, 4, 5]
    assert [p.line for p in pairs] == [None] * 5  # no pass over the text for usable pairs
    skipped = batch(
        {
            "sessions": [
                {"session_id": 7, "topic": "Gas", "qa_pairs": [PAIR, {"question": "no answer?"}]}
            ]
        }
    )
    assert [(s.position, s.line) for s in skipped.skipped] == [(2, 11)]  # indented dump


def test_sample_source_database_is_the_file_stem() -> None:
    result = sample()
    assert result.source_database == "database_qa_export_20251030_012343"
    assert (result.indicator, result.session) == (None, None)


def test_a_pairs_own_indicator_and_category_override_its_session() -> None:
    own = {**PAIR, "indicator": "EIP-1559", "category": "Fees"}
    result = batch({"sessions": [{"session_id": 7, "topic": "Gas", "qa_pairs": [own, PAIR]}]})
    assert [(p.indicator, p.category) for p in result.pairs] == [
        ("EIP-1559", "Fees"),
        ("Gas", None),
    ]


def test_a_session_category_applies_to_its_pairs() -> None:
    result = batch({"sessions": [{"session_id": 7, "category": "Chain", "qa_pairs": [PAIR]}]})
    assert result.pairs[0].category == "Chain"


def test_a_session_id_given_as_text_is_read() -> None:
    assert batch({"sessions": [{"session_id": "012", "qa_pairs": [PAIR]}]}).pairs[0].session == 12


def test_a_session_without_session_id_skips_its_pairs_naming_the_session() -> None:
    value = {
        "sessions": [
            {"session_id": 1, "qa_pairs": [PAIR]},
            {"topic": "Orphans", "qa_pairs": [PAIR, PAIR]},
        ]
    }
    result = batch(value)
    assert [p.position for p in result.pairs] == [1]
    assert [s.position for s in result.skipped] == [2, 3]
    assert result.skipped[0].reason == (
        'pair 2 is in session 2 of the export (topic "Orphans"), which cannot be used: '
        "it has no session_id (keys found: topic, qa_pairs)"
    )


def test_a_session_with_an_unreadable_session_id_skips_its_pairs() -> None:
    result = batch(
        {
            "sessions": [
                {"session_id": 1, "qa_pairs": [PAIR]},
                {"session_id": "x", "qa_pairs": [PAIR]},
            ]
        }
    )
    assert 'its session_id is "x"; expected a session number' in result.skipped[0].reason


def test_a_session_that_is_not_an_object_is_skipped() -> None:
    result = batch({"sessions": [{"session_id": 1, "qa_pairs": [PAIR]}, "oops"]})
    assert result.skipped[0].reason == (
        "session 2 of the export is a string; "
        "expected an object with session_id, topic and qa_pairs"
    )


def test_a_session_without_a_pair_list_is_skipped_naming_its_keys() -> None:
    result = batch({"sessions": [{"session_id": 1, "qa_pairs": [PAIR]}, {"session_id": 2}]})
    assert result.skipped[0].reason.startswith(
        "session 2 of the export has no list of pairs (keys found: session_id;"
    )


def test_a_session_whose_pair_list_is_not_a_list_says_what_it_is() -> None:
    result = batch({"sessions": [{"session_id": 1, "qa_pairs": [PAIR]}, {"qa_pairs": "x"}]})
    assert '("qa_pairs" is a string; expected a list under one of' in result.skipped[0].reason


def test_an_export_whose_every_pair_is_unusable_is_rejected() -> None:
    result = rejected({"sessions": [{"topic": "T", "qa_pairs": [PAIR]}]})
    assert result.reason.startswith("no usable pair (1 pair in a session that cannot be used)")


def test_a_document_without_sessions_is_rejected_naming_its_keys() -> None:
    result = rejected({"export_date": "2025", "qa_pairs": []})
    assert result.reason.startswith(
        "not a multi-session export: found keys export_date, qa_pairs; expected an object "
        'with a "sessions" list'
    )


def test_sessions_that_are_not_a_list_are_rejected() -> None:
    assert '"sessions" that is an object' in rejected({"sessions": {}}).reason


def test_an_empty_sessions_list_is_rejected() -> None:
    assert rejected({"sessions": []}).reason.startswith('no pairs: "sessions" is an empty list')


def test_a_list_document_is_rejected() -> None:
    assert rejected([PAIR]).reason.startswith("not a multi-session export: found a list;")


def test_truncated_export_is_invalid_json_with_a_place() -> None:
    result = export.parse(SAMPLE.read_bytes()[:300], ctx())
    assert isinstance(result, Rejected)
    assert result.reason.startswith("invalid JSON at pair 1 of session 1 of the export:")
    assert result.line is not None and result.column is not None


def test_handler_takes_database_exports_only() -> None:
    assert export.HANDLER.takes(ctx())
    assert not export.HANDLER.takes(ctx("sma_qa_pairs.json"))
