"""Every parser answers a model or Rejected for any bytes or text, and never raises.

The parsers are read from the routing table (``tests.handlers.cases``): one example file name
per handler and name pattern, so a new handler is fuzzed as soon as it is in the table.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import handlers
from handlers.base import Rejected
from tests.handlers.cases import CASES, Case

IDS = [case.id for case in CASES]

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


def check(case: Case, data: bytes) -> None:
    result = case.parse(data, case.ctx)
    assert isinstance(result, BaseModel | Rejected)


def test_every_handler_is_fuzzed_under_a_name_the_table_routes_to_it() -> None:
    assert {case.handler.name for case in CASES} == {h.name for h in handlers.HANDLERS}
    for case in CASES:
        assert handlers.route(case.ctx) is case.handler, case.id


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(case: Case, data: bytes) -> None:
    check(case, data)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=2000))
def test_arbitrary_utf8_text_never_raises(case: Case, text: str) -> None:
    check(case, text.encode("utf-8"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=200, deadline=None)
@given(text=NEAR_FORMAT)
def test_text_near_the_formats_never_raises(case: Case, text: str) -> None:
    check(case, text.encode("utf-8"))
