"""Agent-controlled strings shown to a person: names and reasons are data, never layout.

A file name may hold a newline, ``|``, backticks, ``*`` or an escape code. ``visible`` shows
every character that would move the cursor, colour a terminal or reorder text as an escape
(``\\n``, ``\\x1b``, ``\\u202e``), so one name stays one line; ``markdown`` also
backslash-escapes what Markdown would read as layout, so one name stays one table cell and
one list item. Every renderer of such strings (``STATUS.md``, the gap report, the command
line) goes through these two.
"""

from __future__ import annotations

import re

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# what Markdown reads as layout anywhere in a line: escapes, code, emphasis, links, HTML,
# table cells, strike-through, headings; ``&`` only where it starts an entity (``&lt;``), and
# ``_`` only where it can open or close emphasis (inside a word, as in ``session_02``, not)
_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]<>|~#]|&(?=#?[0-9A-Za-z]+;)|(?<![^\W_])_|_(?![^\W_])")
# what Markdown reads as layout at the start of a block: a list item, a heading underline
_MARKDOWN_LEADING = re.compile(r"^(?:[-+=]|\d+[.)])")


def visible(text: str) -> str:
    """``text`` with every character that is not printable shown as its escape."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def markdown(text: object) -> str:
    """``text`` as literal Markdown inline text: one line, one table cell, no formatting."""
    shown = _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), str(text))
    shown = _MARKDOWN_LEADING.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], shown)
    return visible(shown)


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
