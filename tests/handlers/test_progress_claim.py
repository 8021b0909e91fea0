"""status.txt: the agent's progress claim."""

from __future__ import annotations

from pathlib import PurePosixPath

from daemon.cli.demo import DEMO_FILES
from handlers import progress_claim
from handlers.base import FileContext, Rejected
from handlers.models import ProgressClaim

SAMPLE = DEMO_FILES / "outbox" / "droid" / "status.txt"
CTX = FileContext(agent="droid", box="outbox", rel_path=PurePosixPath("status.txt"))


def parse_text(text: str) -> ProgressClaim | Rejected:
    return progress_claim.parse(text.encode("utf-8"), CTX)


def test_sample_claims_2_of_43_sessions() -> None:
    result = progress_claim.parse(SAMPLE.read_bytes(), CTX)
    assert isinstance(result, ProgressClaim)
    assert (result.sessions_complete, result.sessions_total) == (2, 43)


def test_sample_current_session_date_and_notes() -> None:
    result = progress_claim.parse(SAMPLE.read_bytes(), CTX)
    assert isinstance(result, ProgressClaim)
    assert result.current_session == 3
    assert result.last_updated == "2025-11-03 14:20"
    assert result.notes == "RAG export attached"


def test_every_key_is_kept_as_given() -> None:
    result = parse_text("Sessions Complete: 12/43\nAPI Errors: 4\n")
    assert isinstance(result, ProgressClaim)
    assert result.fields == {"Sessions Complete": "12/43", "API Errors": "4"}


def test_keys_are_matched_whatever_their_case_or_underscores() -> None:
    result = parse_text("sessions_complete: 5 of 40\nCURRENT SESSION: 6\n")
    assert isinstance(result, ProgressClaim)
    assert (result.sessions_complete, result.sessions_total, result.current_session) == (5, 40, 6)


def test_lone_session_count_has_no_total() -> None:
    result = parse_text("Sessions Complete: 12\n")
    assert isinstance(result, ProgressClaim)
    assert (result.sessions_complete, result.sessions_total) == (12, None)


def test_crlf_and_bold_keys_are_read() -> None:
    result = progress_claim.parse(b"**Sessions Complete:** 7/43\r\n- Current Session: 8\r\n", CTX)
    assert isinstance(result, ProgressClaim)
    assert (result.sessions_complete, result.current_session) == (7, 8)


def test_no_key_value_line_is_rejected() -> None:
    result = parse_text("working on it\n")
    assert isinstance(result, Rejected)
    assert "no 'Key: value' lines" in result.reason
    assert "Sessions Complete" in result.reason


def test_only_unknown_keys_is_rejected_naming_found_and_expected_keys() -> None:
    result = parse_text("Mood: good\n")
    assert isinstance(result, Rejected)
    assert "'Mood'" in result.reason
    assert "Current Session" in result.reason


def test_empty_file_is_rejected() -> None:
    assert isinstance(progress_claim.parse(b"", CTX), Rejected)


def test_binary_data_is_rejected() -> None:
    assert isinstance(progress_claim.parse(b"Notes: \x00\x00", CTX), Rejected)
