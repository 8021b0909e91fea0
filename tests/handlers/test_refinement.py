"""outbox/<refiner>/refinement_*.jsonl: quality scores and duplicate marks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath

from daemon.cli.demo import DEMO_FILES
from daemon.config import Settings
from handlers import refinement
from handlers.base import FileContext, Rejected
from handlers.models import RefinementResults

SAMPLE = DEMO_FILES / "outbox" / "gemini" / "refinement_0001.jsonl"
CTX = FileContext(agent="gemini", box="outbox", rel_path=PurePosixPath("refinement_0001.jsonl"))
KEY = "c515f0120eb49f64ffafb9ed7e0ea4e69f11ab333f7bf4f3f2eef43d2cdc485e"


def parse_lines(*lines: str) -> RefinementResults | Rejected:
    return refinement.parse("\n".join(lines).encode("utf-8"), CTX)


def parse_ok(*lines: str) -> RefinementResults:
    result = parse_lines(*lines)
    assert isinstance(result, RefinementResults), result
    return result


def test_sample_has_two_records_by_question_key() -> None:
    result = refinement.parse(SAMPLE.read_bytes(), CTX)
    assert isinstance(result, RefinementResults)
    assert [r.question_key for r in result.records] == [
        KEY,
        "257e3eb20ba53bc008ea69d6e936e5fd9071347c586f2bebb8b5b9626d6034dc",
    ]
    assert all(r.qa_id is None for r in result.records)


def test_sample_scores_tiers_and_notes() -> None:
    result = refinement.parse(SAMPLE.read_bytes(), CTX)
    assert isinstance(result, RefinementResults)
    first, second = result.records
    assert (first.quality_score, first.tier, first.notes) == (0.91, "premium", None)
    assert (second.quality_score, second.tier, second.notes) == (
        0.55,
        "standard",
        "add a BTC example",
    )
    assert (first.line, second.line) == (1, 2)


def test_record_by_qa_id_with_duplicate_mark() -> None:
    record = parse_ok('{"qa_id": 12, "duplicate_of": 7}').records[0]
    assert (record.qa_id, record.duplicate_of) == (12, 7)


def test_question_key_is_lower_cased() -> None:
    record = parse_ok(f'{{"question_key": "{KEY.upper()}", "tier": "low"}}').records[0]
    assert record.question_key == KEY


def test_tier_is_case_insensitive() -> None:
    assert parse_ok('{"qa_id": 1, "tier": "Premium"}').records[0].tier == "premium"


def test_blank_lines_and_crlf_are_allowed() -> None:
    result = refinement.parse(
        b'{"qa_id": 1, "tier": "low"}\r\n\r\n{"qa_id": 2, "notes": "ok"}\r\n', CTX
    )
    assert isinstance(result, RefinementResults)
    assert [r.line for r in result.records] == [1, 3]


def test_record_without_id_or_key_is_skipped_with_its_line() -> None:
    result = parse_ok('{"qa_id": 1, "tier": "low"}', '{"quality_score": 0.5}')
    assert len(result.records) == 1
    assert result.skipped[0].position == 2
    assert result.skipped[0].line == 2
    assert "no qa_id or question_key" in result.skipped[0].reason


def test_score_out_of_range_is_skipped() -> None:
    result = parse_ok('{"qa_id": 1, "quality_score": 1.5}', '{"qa_id": 2, "tier": "low"}')
    assert "out of range" in result.skipped[0].reason


def test_unknown_tier_is_skipped_naming_the_tiers() -> None:
    result = parse_ok('{"qa_id": 1, "tier": "gold"}', '{"qa_id": 2, "tier": "low"}')
    assert "premium, standard, low" in result.skipped[0].reason


def test_malformed_question_key_is_skipped() -> None:
    result = parse_ok('{"question_key": "abc", "tier": "low"}', '{"qa_id": 2, "tier": "low"}')
    assert "64 hexadecimal" in result.skipped[0].reason


def test_boolean_qa_id_is_skipped() -> None:
    result = parse_ok('{"qa_id": true, "tier": "low"}', '{"qa_id": 2, "tier": "low"}')
    assert "qa_id" in result.skipped[0].reason


def test_record_with_nothing_to_apply_is_skipped() -> None:
    result = parse_ok('{"qa_id": 1}', '{"qa_id": 2, "tier": "low"}')
    assert "nothing to apply" in result.skipped[0].reason


def test_line_that_is_not_an_object_is_skipped() -> None:
    result = parse_ok("[1, 2]", '{"qa_id": 2, "tier": "low"}')
    assert "expected one JSON object a line" in result.skipped[0].reason


def test_no_usable_record_is_rejected_at_the_first_skipped_line() -> None:
    result = parse_lines('{"qa_id": 1, "tier": "gold"}', '{"qa_id": 0, "tier": "low"}')
    assert isinstance(result, Rejected)
    assert "no usable refinement record (2 skipped" in result.reason
    assert result.line == 1


def test_broken_json_line_is_rejected_with_line_and_column() -> None:
    result = parse_lines('{"qa_id": 1, "tier": "low"}', '{"qa_id": 2, "tier": ')
    assert isinstance(result, Rejected)
    assert result.line == 2
    assert result.column is not None


def test_empty_file_is_rejected() -> None:
    result = refinement.parse(b"\n\n", CTX)
    assert isinstance(result, Rejected)
    assert "no records" in result.reason


def test_invalid_utf8_is_rejected_with_its_place() -> None:
    result = refinement.parse(b'{"qa_id": 1, "notes": "caf\xe9"}\n', CTX)
    assert isinstance(result, Rejected)
    assert "UTF-8" in result.reason
    assert result.line == 1


def test_binary_data_is_rejected() -> None:
    assert isinstance(refinement.parse(b"\x00\x01\x02\x03", CTX), Rejected)


def test_handler_takes_gemini_files_only() -> None:
    droid = FileContext(
        agent="droid", box="outbox", rel_path=PurePosixPath("refinement_0001.jsonl")
    )
    assert refinement.HANDLER.takes(CTX)
    assert not refinement.HANDLER.takes(droid)


def test_handler_takes_the_files_of_whichever_agent_is_the_refiner() -> None:
    claude = FileContext(
        agent="claude",
        box="outbox",
        rel_path=PurePosixPath("refinement_0001.jsonl"),
        refiner="claude",
    )
    assert refinement.HANDLER.takes(claude)
    assert not refinement.HANDLER.takes(replace(CTX, refiner="claude"))


def test_the_context_names_the_settings_refiner_by_default() -> None:
    assert CTX.refiner == Settings.model_fields["refiner"].default == "gemini"
