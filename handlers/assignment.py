"""``session-NN-assignment.md``: one session handed to an agent.

The session number comes from the heading (``# Session 02 Assignment: Title``), else from the
file name; the indicators are the list items under a heading that mentions "Indicator".
"""

from __future__ import annotations

import re

from handlers.base import FileContext, Handler, Rejected
from handlers.models import Assignment
from handlers.text import (
    clean_indicator,
    decode_text,
    first_int,
    markdown_heading,
    split_key_value,
    strip_emphasis,
)

DEFAULT_TARGET = 100
# pairs per indicator: a target beyond it is a typo, and is rejected saying so rather than
# replaced by the default in silence (the settings' target_per_indicator has the same cap)
MAX_TARGET = 1_000_000

_SESSION_RE = re.compile(r"session[\s_#-]*([0-9]{1,9})(?![0-9])", re.IGNORECASE)
# "SMA: Simple Moving Average", "SMA - Simple ...", "SMA — Simple ...": the name is before it.
_DESCRIPTION_RE = re.compile(r":[ \t]| [-–—] ")
_NUMBER_RE = re.compile(r"[0-9][0-9,]*")
_LIST_ITEM_RE = re.compile(r"^(?P<indent>[ \t]*)(?:[0-9]+[.)]|[-*+])[ \t]+(?P<text>.*\S)")


def parse(data: bytes, ctx: FileContext) -> Assignment | Rejected:
    """Parse an assignment; reject it when it names no session or lists no indicators."""
    text = decode_text(data, allow_cp1252=True)
    if isinstance(text, Rejected):
        return text
    lines = text.splitlines()

    session, title = _session_and_title(lines)
    if session is None:
        m = _SESSION_RE.search(ctx.name)
        session = int(m.group(1)) if m else None
    if session is None:
        return Rejected(
            "no session number: expected a heading like '# Session 02 Assignment: Title' "
            "or a file name like session-02-assignment.md"
        )

    indicators = _indicators(lines)
    if not indicators:
        return Rejected(
            "no indicator list: expected list items (1. / - / *) under a heading containing "
            "'Indicator' (e.g. '## Indicators')"
        )

    category: str | None = None
    target: int | None = None
    for number, line in enumerate(lines, start=1):
        kv = split_key_value(line)
        if kv is None:
            continue
        key, value = kv[0].lower(), strip_emphasis(kv[1])
        if key == "category" and category is None and value:
            category = value
        elif key.startswith("target") and target is None:
            found = _target(value)
            if isinstance(found, Rejected):
                return Rejected(found.reason, line=number)
            target = found

    return Assignment(
        session=session,
        title=title,
        category=category,
        target_per_indicator=target if target else DEFAULT_TARGET,
        indicators=indicators,
    )


def _target(value: str) -> int | Rejected | None:
    """The target's number; None when the line gives none (the default applies)."""
    digits = _NUMBER_RE.search(value)
    if digits is None:
        return None
    target = first_int(value)
    if target is None or not 1 <= target <= MAX_TARGET:
        return Rejected(
            f"target {digits.group()} is not a number of pairs per indicator "
            f"(expected 1 to {MAX_TARGET:,}); fix the Target line"
        )
    return target


def _session_and_title(lines: list[str]) -> tuple[int | None, str | None]:
    """Session number and title from the first heading that names a session."""
    for line in lines:
        heading = markdown_heading(line)
        if heading is None:
            continue
        m = _SESSION_RE.search(heading[1])
        if m:
            _, sep, rest = heading[1].partition(":")
            return int(m.group(1)), (rest.strip() or None) if sep else None
    return None, None


def _indicators(lines: list[str]) -> list[str]:
    """List items of the first heading mentioning "Indicator" that has any.

    The title heading often says "Indicators" too but holds no list, hence "that has any".
    Items indented deeper than the section's first item are details, not indicators; a
    description after the name (``SMA: ...``, ``SMA - ...``) is dropped like one in brackets.
    """
    section: list[str] | None = None
    for line in [*lines, "# end"]:
        heading = markdown_heading(line)
        if heading is not None:
            found = _list_items(section) if section is not None else []
            if found:
                return found
            section = [] if "indicator" in heading[1].lower() else None
        elif section is not None:
            section.append(line)
    return []


def _list_items(section: list[str]) -> list[str]:
    items: list[str] = []
    seen: set[str] = set()
    indent: int | None = None
    for line in section:
        m = _LIST_ITEM_RE.match(line)
        if not m:
            continue
        depth = len(m.group("indent").expandtabs(4))
        if indent is None:
            indent = depth
        if depth > indent:
            continue
        name = clean_indicator(_DESCRIPTION_RE.split(strip_emphasis(m.group("text")), 1)[0])
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            items.append(name)
    return items


HANDLER = Handler(
    name="assignment",
    box="inbox",
    patterns=("session-*-assignment.md", "session_*_assignment.md"),
    parse=parse,
    importer="assignment",
    description="a session assigned to the agent: title, category, indicators, target",
)
