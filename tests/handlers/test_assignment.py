"""session-NN-assignment.md: session, title, category, target and indicators."""

from __future__ import annotations

from pathlib import PurePosixPath

from daemon.cli.demo import DEMO_FILES
from handlers import assignment
from handlers.base import FileContext, Rejected
from handlers.models import Assignment

SAMPLES = DEMO_FILES / "inbox" / "droid"


def ctx(name: str = "session-02-assignment.md") -> FileContext:
    return FileContext(agent="droid", box="inbox", rel_path=PurePosixPath(name))


def parse_sample(name: str) -> Assignment:
    result = assignment.parse((SAMPLES / name).read_bytes(), ctx(name))
    assert isinstance(result, Assignment), result
    return result


def parse_text(text: str, name: str = "session-02-assignment.md") -> Assignment | Rejected:
    return assignment.parse(text.encode("utf-8"), ctx(name))


def test_sample_session_02_has_its_number_title_and_category() -> None:
    result = parse_sample("session-02-assignment.md")
    assert result.session == 2
    assert result.title == "Trend Indicators (MA)"
    assert result.category == "Price-Based Technical Indicators"


def test_sample_session_02_lists_five_cleaned_indicators() -> None:
    assert parse_sample("session-02-assignment.md").indicators == [
        "SMA",
        "EMA",
        "WMA",
        "MACD",
        "ADX",
    ]


def test_sample_session_02_target_is_100() -> None:
    assert parse_sample("session-02-assignment.md").target_per_indicator == 100


def test_sample_session_03_reads_bullets_under_indicators_to_research() -> None:
    result = parse_sample("session-03-assignment.md")
    assert result.session == 3
    assert result.indicators == ["Parabolic SAR", "Ichimoku Cloud", "Supertrend"]


def test_target_is_read_from_the_target_line() -> None:
    result = parse_text(
        "# Session 5 Assignment: X\nTarget: 250 Q&A pairs per indicator\n## Indicators\n- RSI\n"
    )
    assert isinstance(result, Assignment)
    assert result.target_per_indicator == 250


def test_target_defaults_to_100_when_missing() -> None:
    result = parse_text("# Session 5 Assignment: X\n## Indicators\n- RSI\n")
    assert isinstance(result, Assignment)
    assert result.target_per_indicator == 100


def test_session_comes_from_the_file_name_when_the_heading_has_none() -> None:
    result = parse_text("# Momentum\n## Indicators\n1. RSI\n", name="session_07_assignment.md")
    assert isinstance(result, Assignment)
    assert result.session == 7
    assert result.title is None


def test_heading_session_wins_over_the_file_name() -> None:
    result = parse_text("# Session 09 Assignment: Y\n## Indicators\n- OBV\n")
    assert isinstance(result, Assignment)
    assert result.session == 9


def test_no_session_anywhere_is_rejected_naming_the_expected_heading() -> None:
    result = parse_text("# Momentum\n## Indicators\n- RSI\n", name="assignment.md")
    assert isinstance(result, Rejected)
    assert "no session number" in result.reason
    assert "# Session 02 Assignment" in result.reason


def test_no_indicator_heading_is_rejected_naming_the_expected_heading() -> None:
    result = parse_text("# Session 02 Assignment: X\n## Output\n- one file per indicator\n")
    assert isinstance(result, Rejected)
    assert "no indicator list" in result.reason
    assert "Indicator" in result.reason


def test_indicator_heading_without_list_items_is_rejected() -> None:
    result = parse_text("# Session 02 Assignment: X\n## Indicators\nto be decided\n")
    assert isinstance(result, Rejected)


def test_items_after_the_next_heading_are_not_indicators() -> None:
    result = parse_text("# Session 2\n## Indicators\n- SMA\n## Output\n- one JSON file\n")
    assert isinstance(result, Assignment)
    assert result.indicators == ["SMA"]


def test_nested_items_are_details_not_indicators() -> None:
    text = "# Session 2\n## Indicators\n1. SMA\n   - formula\n2. EMA\n"
    result = parse_text(text)
    assert isinstance(result, Assignment)
    assert result.indicators == ["SMA", "EMA"]


def test_bold_items_and_star_bullets_are_cleaned() -> None:
    result = parse_text("# Session 2\n### Key indicators\n* **RSI** (Relative Strength Index)\n")
    assert isinstance(result, Assignment)
    assert result.indicators == ["RSI"]


def test_repeated_indicators_are_listed_once() -> None:
    result = parse_text("# Session 2\n## Indicators\n- SMA\n- sma (again)\n")
    assert isinstance(result, Assignment)
    assert result.indicators == ["SMA"]


def test_crlf_line_ends_are_read_like_lf() -> None:
    data = (SAMPLES / "session-02-assignment.md").read_bytes().replace(b"\n", b"\r\n")
    result = assignment.parse(data, ctx())
    assert isinstance(result, Assignment)
    assert result.indicators == ["SMA", "EMA", "WMA", "MACD", "ADX"]
    assert result.category == "Price-Based Technical Indicators"


def test_utf16_with_bom_is_decoded() -> None:
    data = (SAMPLES / "session-03-assignment.md").read_text("utf-8").encode("utf-16")
    result = assignment.parse(data, ctx("session-03-assignment.md"))
    assert isinstance(result, Assignment)
    assert result.session == 3


def test_cp1252_text_is_accepted() -> None:
    data = "# Session 4 Assignment: Momentum – part 1\n## Indicators\n- RSI\n".encode("cp1252")
    result = assignment.parse(data, ctx("session-04-assignment.md"))
    assert isinstance(result, Assignment)
    assert result.title == "Momentum – part 1"


def test_binary_data_is_rejected() -> None:
    assert isinstance(assignment.parse(b"\x00\x01\x02PK\x03\x04", ctx()), Rejected)


def test_handler_takes_dash_and_underscore_names_in_inbox_only() -> None:
    handler = assignment.HANDLER
    assert handler.takes(ctx("session-02-assignment.md"))
    assert handler.takes(ctx("session_02_assignment.md"))
    outbox = FileContext(
        agent="droid", box="outbox", rel_path=PurePosixPath("session-02-assignment.md")
    )
    assert not handler.takes(outbox)


def test_description_after_a_colon_or_spaced_dash_is_dropped() -> None:
    text = "# Session 2\n## Indicators\n- SMA: Simple Moving Average\n- Rate-of-Change - momentum\n"
    result = parse_text(text)
    assert isinstance(result, Assignment)
    assert result.indicators == ["SMA", "Rate-of-Change"]
