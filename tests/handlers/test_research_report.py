"""research_report_*.txt: Q&A out of a captured terminal session."""

from __future__ import annotations

from pathlib import PurePosixPath

from daemon.cli.demo import DEMO_FILES
from handlers import research_report
from handlers.base import FileContext, Rejected
from handlers.models import QABatch

NAME = "research_report_macd_20251102_1412.txt"
SAMPLE = DEMO_FILES / "outbox" / "droid" / NAME


def ctx(rel_path: str = NAME) -> FileContext:
    return FileContext(agent="droid", box="outbox", rel_path=PurePosixPath(rel_path))


def parse_sample() -> QABatch:
    result = research_report.parse(SAMPLE.read_bytes(), ctx())
    assert isinstance(result, QABatch), result
    return result


def parse_text(text: str, rel_path: str = NAME) -> QABatch | Rejected:
    return research_report.parse(text.encode("utf-8"), ctx(rel_path))


def stored_text(batch: QABatch) -> list[str]:
    return [text for pair in batch.pairs for text in (pair.question, pair.answer)]


def test_sample_has_three_pairs() -> None:
    assert len(parse_sample().pairs) == 3


def test_sample_header_names_session_2_and_macd() -> None:
    batch = parse_sample()
    assert (batch.session, batch.indicator) == (2, "MACD")


def test_sample_questions_in_all_three_styles() -> None:
    assert [pair.question for pair in parse_sample().pairs] == [
        "What does MACD stand for and how is it computed?",
        "What is a MACD bullish crossover?",
        "Why does MACD give false signals in ranging crypto markets?",
    ]


def test_sample_multi_line_answer_is_joined() -> None:
    assert parse_sample().pairs[0].answer == (
        "Moving Average Convergence Divergence. MACD line = EMA(12) - EMA(26); "
        "the signal line is EMA(9) of the MACD line; the histogram is their difference."
    )


def test_sample_footer_stays_out_of_the_last_answer() -> None:
    assert parse_sample().pairs[2].answer == (
        "Both EMAs converge when price moves sideways, so small moves flip the crossover back "
        "and forth."
    )


def test_sample_positions_and_lines_point_at_the_questions() -> None:
    pairs = parse_sample().pairs
    assert [(p.position, p.line) for p in pairs] == [(1, 6), (2, 10), (3, 12)]


def test_sample_stored_text_has_no_escape_or_carriage_return() -> None:
    for text in stored_text(parse_sample()):
        assert "\x1b" not in text
        assert "\r" not in text


def test_sample_spinner_text_is_absent_from_answers() -> None:
    for pair in parse_sample().pairs:
        assert "Researching" not in pair.answer


def test_indicator_and_session_fall_back_to_file_name_and_folder() -> None:
    batch = parse_text(
        "Q1: What is a pi cycle?\nA: Two moving averages.\n",
        "session_45/research_report_pi_cycle_top_20251102_1412.txt",
    )
    assert isinstance(batch, QABatch)
    assert (batch.indicator, batch.session) == ("PI CYCLE TOP", 45)


def test_without_header_or_folder_the_session_is_unknown() -> None:
    batch = parse_text("Q1: q?\nA: a.\n")
    assert isinstance(batch, QABatch)
    assert batch.session is None


def test_header_on_separate_lines_is_read() -> None:
    batch = parse_text("Session: 7\nIndicator: OBV (On-Balance Volume)\nQ1: q?\nA: a.\n")
    assert isinstance(batch, QABatch)
    assert (batch.session, batch.indicator) == (7, "OBV")


def test_session_words_inside_answers_are_not_a_header() -> None:
    batch = parse_text("Q1: q?\nA: a.\nSession: 9\n")
    assert isinstance(batch, QABatch)
    assert batch.session is None
    assert batch.pairs[0].answer == "a. Session: 9"


def test_bold_markers_around_q_and_answer_are_tolerated() -> None:
    batch = parse_text("**Q1:** What is RSI?\n**Answer:** A momentum oscillator.\n")
    assert isinstance(batch, QABatch)
    assert (batch.pairs[0].question, batch.pairs[0].answer) == (
        "What is RSI?",
        "A momentum oscillator.",
    )


def test_blank_lines_inside_an_answer_keep_paragraphs() -> None:
    batch = parse_text("Q1: q?\nA: first\nline\n\nsecond\n\n\nQ2: r?\nA: b\n")
    assert isinstance(batch, QABatch)
    assert batch.pairs[0].answer == "first line\n\nsecond"


def test_question_without_answer_is_skipped_with_its_position_and_line() -> None:
    batch = parse_text("Q1: lonely?\nQ2: r?\nA: b\n")
    assert isinstance(batch, QABatch)
    assert [p.question for p in batch.pairs] == ["r?"]
    assert len(batch.skipped) == 1
    assert (batch.skipped[0].position, batch.skipped[0].line) == (1, 1)
    assert "no answer" in batch.skipped[0].reason


def test_answer_marker_with_nothing_after_it_is_skipped() -> None:
    batch = parse_text("Q1: q?\nA:\nQ2: r?\nA: b\n")
    assert isinstance(batch, QABatch)
    assert [p.position for p in batch.pairs] == [2]
    assert "empty answer" in batch.skipped[0].reason


def test_report_without_any_answered_question_is_rejected_at_the_first_question() -> None:
    result = parse_text("banner\nQ1: lonely?\nQ2: alone?\n")
    assert isinstance(result, Rejected)
    assert "no usable pair" in result.reason
    assert result.line == 2


def test_pairs_carry_the_file_indicator_and_session() -> None:
    pair = parse_sample().pairs[0]
    assert (pair.indicator, pair.session) == ("MACD", 2)


def test_no_question_is_rejected_with_the_expected_forms() -> None:
    result = parse_text("\x1b[1mresearch finished\x1b[0m\nnothing here\n")
    assert isinstance(result, Rejected)
    assert result.reason == (
        "no questions found: expected lines starting Q1:, Q1., Question 1: or **Question 1:**"
    )


def test_crlf_capture_is_read_like_lf() -> None:
    batch = research_report.parse(SAMPLE.read_bytes().replace(b"\n", b"\r\n"), ctx())
    assert isinstance(batch, QABatch)
    assert [p.answer for p in batch.pairs] == [p.answer for p in parse_sample().pairs]


def test_cp1252_capture_is_decoded() -> None:
    batch = research_report.parse("Q1: Why “MACD”?\nA: Because – trend.\n".encode("cp1252"), ctx())
    assert isinstance(batch, QABatch)
    assert batch.pairs[0].question == "Why “MACD”?"


def test_binary_data_is_rejected() -> None:
    assert isinstance(research_report.parse(b"Q1: x\x00y\nA: z", ctx()), Rejected)


def test_line_that_is_bold_as_a_whole_loses_its_closing_marker() -> None:
    batch = parse_text("**Q1: What is `EMA(12)`?**\n**A: A **fast** average.**\n")
    assert isinstance(batch, QABatch)
    assert (batch.pairs[0].question, batch.pairs[0].answer) == (
        "What is `EMA(12)`?",
        "A **fast** average.",
    )


def test_markdown_heading_questions_and_colon_without_space_are_read() -> None:
    batch = parse_text("### Q1:What is ATR?\nAnswer 1: Average True Range.\n")
    assert isinstance(batch, QABatch)
    assert (batch.pairs[0].question, batch.pairs[0].answer) == (
        "What is ATR?",
        "Average True Range.",
    )


def test_a_decimal_after_q_is_not_a_question() -> None:
    batch = parse_text("Q1: How much?\nA: It rose\nQ3.5% in a day.\n")
    assert isinstance(batch, QABatch)
    assert len(batch.pairs) == 1
    assert batch.pairs[0].answer == "It rose Q3.5% in a day."


def test_box_drawing_banners_are_not_part_of_answers() -> None:
    batch = parse_text("Q1: q?\nA: a\n╔══╗\n║ x ║\n╚══╝\n█████░░ 70%\n")
    assert isinstance(batch, QABatch)
    assert batch.pairs[0].answer == "a"


def test_header_session_with_a_total_still_names_the_session() -> None:
    batch = parse_text("Session: 04/43 | Indicator: RSI\nQ1: q?\nA: a.\n")
    assert isinstance(batch, QABatch)
    assert (batch.session, batch.indicator) == (4, "RSI")
