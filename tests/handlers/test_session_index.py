"""SESSION_INDEX.md: a Markdown table of sessions."""

from __future__ import annotations

from pathlib import PurePosixPath

from daemon.cli.demo import DEMO_FILES
from handlers import session_index
from handlers.base import FileContext, Rejected
from handlers.models import SessionIndex

SAMPLE = DEMO_FILES / "inbox" / "droid" / "SESSION_INDEX.md"
CTX = FileContext(agent="droid", box="inbox", rel_path=PurePosixPath("SESSION_INDEX.md"))


def parse_text(text: str) -> SessionIndex | Rejected:
    return session_index.parse(text.encode("utf-8"), CTX)


def test_sample_lists_sessions_2_3_4_45() -> None:
    result = session_index.parse(SAMPLE.read_bytes(), CTX)
    assert isinstance(result, SessionIndex)
    assert [row.session for row in result.rows] == [2, 3, 4, 45]


def test_sample_row_has_title_and_indicators() -> None:
    result = session_index.parse(SAMPLE.read_bytes(), CTX)
    assert isinstance(result, SessionIndex)
    row = result.rows[0]
    assert row.title == "Trend Indicators (MA)"
    assert row.indicators == ["SMA", "EMA", "WMA", "MACD", "ADX"]


def test_columns_are_found_by_header_name_in_any_order() -> None:
    text = (
        "| Indicators | Notes | session |\n|--|--|--|\n| RSI (Relative Strength), OBV | x | 7 |\n"
    )
    result = parse_text(text)
    assert isinstance(result, SessionIndex)
    assert result.rows[0].session == 7
    assert result.rows[0].title is None
    assert result.rows[0].indicators == ["RSI", "OBV"]


def test_rows_whose_session_is_not_a_number_are_left_out() -> None:
    text = "| Session | Title |\n|:---:|---|\n| 02 | A |\n| Total | 43 sessions |\n"
    result = parse_text(text)
    assert isinstance(result, SessionIndex)
    assert [row.session for row in result.rows] == [2]


def test_bold_session_cells_are_numbers() -> None:
    result = parse_text("| Session | Title |\n|---|---|\n| **12** | Volume |\n")
    assert isinstance(result, SessionIndex)
    assert result.rows[0].session == 12


def test_rows_of_several_tables_all_count() -> None:
    text = (
        "## Phase 1\n| Session | Title |\n|---|---|\n| 1 | A |\n\n## Phase 2\n"
        "| Session | Title |\n|---|---|\n| 2 | B |\n"
    )
    result = parse_text(text)
    assert isinstance(result, SessionIndex)
    assert [row.session for row in result.rows] == [1, 2]


def test_no_table_is_rejected_with_the_expected_shape() -> None:
    result = parse_text("# Session Index\n\nSessions 2 to 44.\n")
    assert isinstance(result, Rejected)
    assert result.reason == "no session table (expected a Markdown table with a Session column)"


def test_table_without_session_column_is_rejected() -> None:
    result = parse_text("| Title | Indicators |\n|---|---|\n| A | SMA |\n")
    assert isinstance(result, Rejected)
    assert "Session column" in result.reason


def test_table_without_numbered_rows_is_rejected() -> None:
    result = parse_text("| Session | Title |\n|---|---|\n| TBD | later |\n")
    assert isinstance(result, Rejected)
    assert "no session rows" in result.reason


def test_crlf_line_ends_are_read_like_lf() -> None:
    result = session_index.parse(SAMPLE.read_bytes().replace(b"\n", b"\r\n"), CTX)
    assert isinstance(result, SessionIndex)
    assert [row.session for row in result.rows] == [2, 3, 4, 45]


def test_utf16_with_bom_is_decoded() -> None:
    result = session_index.parse(SAMPLE.read_text("utf-8").encode("utf-16"), CTX)
    assert isinstance(result, SessionIndex)
    assert len(result.rows) == 4


def test_binary_data_is_rejected() -> None:
    assert isinstance(session_index.parse(b"| Session |\x00\xff", CTX), Rejected)
