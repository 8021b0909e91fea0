"""ALL_SESSIONS_COMPLETE[.*]: the completion signal and the counts it claims."""

from __future__ import annotations

from pathlib import PurePosixPath

from daemon.cli.demo import DEMO_FILES
from handlers import signal
from handlers.base import FileContext, Rejected
from handlers.models import CompletionSignal

SAMPLE = DEMO_FILES / "outbox" / "droid" / "ALL_SESSIONS_COMPLETE.txt"


def ctx(name: str = "ALL_SESSIONS_COMPLETE.txt") -> FileContext:
    return FileContext(agent="droid", box="outbox", rel_path=PurePosixPath(name))


def parse(data: bytes, name: str = "ALL_SESSIONS_COMPLETE.txt") -> CompletionSignal | Rejected:
    return signal.parse(data, ctx(name))


def test_sample_empty_signal_is_valid_without_claims() -> None:
    assert signal.parse(SAMPLE.read_bytes(), ctx()) == CompletionSignal()


def test_whitespace_only_signal_is_valid() -> None:
    assert parse(b"\r\n  \n", "ALL_SESSIONS_COMPLETE") == CompletionSignal()


def test_free_text_is_kept_stripped() -> None:
    result = parse(b"\n  All done, thanks!  \n")
    assert isinstance(result, CompletionSignal)
    assert result.text == "All done, thanks!"
    assert result.claimed_sessions is None


def test_text_lines_claim_sessions_files_and_pairs() -> None:
    result = parse(b"Done.\nSessions: 43\nFiles written: 86\nTotal Q&A pairs: 4,300\n", "x.md")
    assert isinstance(result, CompletionSignal)
    claims = (result.claimed_sessions, result.claimed_files, result.claimed_pairs)
    assert claims == (43, 86, 4300)


def test_current_session_is_not_a_claim_of_sessions() -> None:
    result = parse(b"Current Session: 44\n")
    assert isinstance(result, CompletionSignal)
    assert result.claimed_sessions is None


def test_json_counts_are_claims() -> None:
    result = parse(b'{"sessions": 43, "files": 86, "pairs": 4300}', "ALL_SESSIONS_COMPLETE.json")
    assert isinstance(result, CompletionSignal)
    claims = (result.claimed_sessions, result.claimed_files, result.claimed_pairs)
    assert claims == (43, 86, 4300)


def test_json_total_keys_numeric_strings_and_lists_are_claims() -> None:
    data = b'{"total_sessions": "43", "total_files": [1, 2, 3], "total_qa_pairs": 4300.0}'
    result = parse(data, "ALL_SESSIONS_COMPLETE.json")
    assert isinstance(result, CompletionSignal)
    claims = (result.claimed_sessions, result.claimed_files, result.claimed_pairs)
    assert claims == (43, 3, 4300)


def test_json_values_that_are_not_counts_are_ignored() -> None:
    data = b'{"sessions": true, "files": -2, "pairs": "many"}'
    result = parse(data, "ALL_SESSIONS_COMPLETE.json")
    assert result == CompletionSignal(text=data.decode())


def test_json_in_a_txt_signal_is_read_too() -> None:
    result = parse(b'{"pairs": 20}\n')
    assert isinstance(result, CompletionSignal)
    assert result.claimed_pairs == 20


def test_invalid_json_in_a_json_signal_is_rejected_with_line_and_column() -> None:
    result = parse(b'{\n  "sessions": 43,\n  "pairs": \n', "ALL_SESSIONS_COMPLETE.json")
    assert isinstance(result, Rejected)
    assert "invalid JSON" in result.reason
    assert result.line is not None and result.column is not None


def test_broken_json_looking_text_in_a_txt_signal_is_kept_as_text() -> None:
    result = parse(b"{done}")
    assert result == CompletionSignal(text="{done}")


def test_long_text_is_truncated() -> None:
    result = parse(b"x" * 100_000)
    assert isinstance(result, CompletionSignal)
    assert len(result.text) == signal.MAX_TEXT


def test_utf16_bom_signal_is_decoded() -> None:
    result = parse("Sessions: 43\r\n".encode("utf-16"))
    assert isinstance(result, CompletionSignal)
    assert result.claimed_sessions == 43


def test_binary_data_is_rejected() -> None:
    assert isinstance(parse(b"\x00\x01\x02"), Rejected)


def test_handler_takes_any_extension_or_none() -> None:
    for name in ("ALL_SESSIONS_COMPLETE", "ALL_SESSIONS_COMPLETE.txt", "all_sessions_complete.md"):
        assert signal.HANDLER.takes(ctx(name))
    assert signal.HANDLER.takes(ctx("ALL_SESSIONS_COMPLETE.json"))
    assert not signal.HANDLER.takes(ctx("ALL_SESSIONS_COMPLETE_NOT"))


def test_crlf_text_is_kept_with_lf_line_ends() -> None:
    assert parse(b"All done.\r\nSee you.\r\n") == CompletionSignal(text="All done.\nSee you.")
