"""Any other Markdown handed to an agent (``MASTER_EXECUTION_PLAN.md``): archived and logged.

Nothing in a note changes data, so the only reason to refuse one is that it is not text.
"""

from __future__ import annotations

import re

from handlers.base import FileContext, Handler, Rejected
from handlers.models import Note
from handlers.text import decode_text, line_column, markdown_heading

# C0 controls that no text editor writes (tab, line ends, form feed and ESC are allowed).
_BINARY_RE = re.compile(r"[\x01-\x08\x0e-\x1a\x1c-\x1f]")


def parse(data: bytes, ctx: FileContext) -> Note | Rejected:
    """A note's title (its first heading) and line count; binary content is rejected."""
    text = decode_text(data, allow_cp1252=True)
    if isinstance(text, Rejected):
        return text
    m = _BINARY_RE.search(text)
    if m:
        line, column = line_column(text, m.start())
        return Rejected(
            f"binary data (control character {ord(m.group()):#04x}); expected Markdown text",
            line,
            column,
        )
    lines = text.splitlines()
    title = next((h[1] for h in map(markdown_heading, lines) if h is not None and h[1]), None)
    return Note(title=title, lines=len(lines))


HANDLER = Handler(
    name="note",
    box="inbox",
    patterns=("*.md",),
    parse=parse,
    importer="note",
    description="any other Markdown for the agent: archived and logged, no data change",
)
