"""Other Markdown in an inbox: archived as a note."""

from __future__ import annotations

from pathlib import PurePosixPath

from daemon.cli.demo import DEMO_FILES
from handlers import note
from handlers.base import FileContext, Rejected
from handlers.models import Note

SAMPLE = DEMO_FILES / "inbox" / "droid" / "MASTER_EXECUTION_PLAN.md"
CTX = FileContext(agent="droid", box="inbox", rel_path=PurePosixPath("MASTER_EXECUTION_PLAN.md"))


def test_sample_title_is_its_first_heading() -> None:
    result = note.parse(SAMPLE.read_bytes(), CTX)
    assert isinstance(result, Note)
    assert result.title == "Master Execution Plan"


def test_sample_line_count() -> None:
    result = note.parse(SAMPLE.read_bytes(), CTX)
    assert isinstance(result, Note)
    assert result.lines == 4


def test_note_without_heading_has_no_title() -> None:
    result = note.parse(b"just some words\nand more\n", CTX)
    assert isinstance(result, Note)
    assert result.title is None
    assert result.lines == 2


def test_empty_note_is_accepted() -> None:
    assert note.parse(b"", CTX) == Note(title=None, lines=0)


def test_utf16_bom_note_is_decoded() -> None:
    result = note.parse("# Plan für heute\r\nok\r\n".encode("utf-16"), CTX)
    assert isinstance(result, Note)
    assert result.title == "Plan für heute"
    assert result.lines == 2


def test_binary_data_is_rejected() -> None:
    assert isinstance(note.parse(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", CTX), Rejected)


def test_control_characters_without_nul_are_rejected_as_binary() -> None:
    result = note.parse(b"# Title\nabc\x02\x03def\n", CTX)
    assert isinstance(result, Rejected)
    assert "binary" in result.reason
    assert (result.line, result.column) == (2, 4)
