"""Every text parser answers a model or Rejected for any input, and never raises."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from handlers import (
    assignment,
    note,
    progress_claim,
    refinement,
    research_report,
    session_index,
    signal,
)
from handlers.base import Box, FileContext, Rejected

Parse = Callable[[bytes, FileContext], "BaseModel | Rejected"]

CASES: list[tuple[Parse, str, Box, str]] = [
    (assignment.parse, "droid", "inbox", "session-02-assignment.md"),
    (session_index.parse, "droid", "inbox", "SESSION_INDEX.md"),
    (note.parse, "droid", "inbox", "MASTER_EXECUTION_PLAN.md"),
    (progress_claim.parse, "droid", "outbox", "status.txt"),
    (signal.parse, "droid", "outbox", "ALL_SESSIONS_COMPLETE.json"),
    (signal.parse, "droid", "outbox", "ALL_SESSIONS_COMPLETE"),
    (research_report.parse, "droid", "outbox", "session_02/research_report_macd_1_2.txt"),
    (refinement.parse, "gemini", "outbox", "refinement_0001.jsonl"),
]
IDS = [f"{parse.__module__}:{name}" for parse, _, _, name in CASES]

# Text near the formats: markers the parsers look for, mixed with anything at all.
MARKERS = st.sampled_from(
    [
        "# Session 02 Assignment: X\n",
        "## Indicators\n",
        "1. SMA (Simple)\n",
        "- EMA\n",
        "| Session | Title | Indicators |\n",
        "|---|---|---|\n",
        "| 02 | T | SMA, EMA |\n",
        "Sessions Complete: 12/43\n",
        "Current Session: 99999999999999999999\n",
        "Q1: why?\n",
        "**Question 2:** how?\n",
        "A: because\n",
        "\x1b[1;36m║ box ║\x1b[0m\r\n",
        "\r⠋ spin\r",
        '{"qa_id": 1, "quality_score": 0.5}\n',
        '{"question_key": "' + "a" * 64 + '", "tier": "low"}\n',
        '{"sessions": 1e999, "pairs": [1]}',
        "[[[[[[[[[[",
        "\n",
    ]
)
NEAR_FORMAT = st.lists(st.one_of(MARKERS, st.text(max_size=20)), max_size=12).map("".join)


def check(parse: Parse, agent: str, box: Box, name: str, data: bytes) -> None:
    ctx = FileContext(agent=agent, box=box, rel_path=PurePosixPath(name))
    result = parse(data, ctx)
    assert isinstance(result, BaseModel | Rejected)


@pytest.mark.parametrize(("parse", "agent", "box", "name"), CASES, ids=IDS)
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(
    parse: Parse, agent: str, box: Box, name: str, data: bytes
) -> None:
    check(parse, agent, box, name, data)


@pytest.mark.parametrize(("parse", "agent", "box", "name"), CASES, ids=IDS)
@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=2000))
def test_arbitrary_utf8_text_never_raises(
    parse: Parse, agent: str, box: Box, name: str, text: str
) -> None:
    check(parse, agent, box, name, text.encode("utf-8"))


@pytest.mark.parametrize(("parse", "agent", "box", "name"), CASES, ids=IDS)
@settings(max_examples=200, deadline=None)
@given(text=NEAR_FORMAT)
def test_text_near_the_formats_never_raises(
    parse: Parse, agent: str, box: Box, name: str, text: str
) -> None:
    check(parse, agent, box, name, text.encode("utf-8"))
