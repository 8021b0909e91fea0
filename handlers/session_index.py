"""``SESSION_INDEX.md``: a Markdown table of planned sessions (Session | Title | Indicators).

Columns are found by their header name, so their order and any extra columns do not matter.
Rows whose Session cell is not a number (totals, notes) are left out; several tables in one
file all count.
"""

from __future__ import annotations

import re

from handlers.base import FileContext, Handler, Rejected
from handlers.models import SessionIndex, SessionRow
from handlers.text import clean_indicator, decode_text, strip_emphasis

_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")
_SEPARATOR_CELL_RE = re.compile(r"^:?-+:?$")
# column -> the word its header contains, tried in this order for each header cell
_HEADER_WORDS = (("session", "session"), ("title", "title"), ("indicators", "indicator"))
_SESSION_CELL_RE = re.compile(r"^(?:session\s*)?#?\s*([0-9]{1,9})$", re.IGNORECASE)


def parse(data: bytes, ctx: FileContext) -> SessionIndex | Rejected:
    """Parse the index; reject it when no table with a Session column has a numbered row."""
    text = decode_text(data, allow_cp1252=True)
    if isinstance(text, Rejected):
        return text

    rows: list[SessionRow] = []
    found_table = False
    columns: dict[str, int] | None = None  # the current table's column positions
    for line in text.splitlines():
        if not line.strip().startswith("|"):
            columns = None
            continue
        cells = _cells(line)
        if columns is None:
            columns = _header_columns(cells)
            found_table = found_table or columns is not None
            continue
        if all(_SEPARATOR_CELL_RE.match(c.replace(" ", "")) for c in cells if c):
            continue
        row = _row(cells, columns)
        if row is not None:
            rows.append(row)

    if not found_table:
        return Rejected("no session table (expected a Markdown table with a Session column)")
    if not rows:
        return Rejected(
            "no session rows: the table's Session column holds no session number "
            "(expected rows like '| 02 | Title | SMA, EMA |')"
        )
    return SessionIndex(rows=rows)


def _cells(line: str) -> list[str]:
    """Cells of a table row, outer pipes dropped, ``\\|`` kept as a literal pipe."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [strip_emphasis(c).replace("\\|", "|") for c in _CELL_SPLIT_RE.split(body)]


def _header_columns(cells: list[str]) -> dict[str, int] | None:
    """Positions of the session, title and indicators columns, if this row is such a header."""
    columns: dict[str, int] = {}
    for i, cell in enumerate(cells):
        name = cell.lower()
        for column, word in _HEADER_WORDS:
            if column not in columns and word in name:
                columns[column] = i
                break
    return columns if "session" in columns else None


def _row(cells: list[str], columns: dict[str, int]) -> SessionRow | None:
    def cell(column: str) -> str:
        i = columns.get(column)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    m = _SESSION_CELL_RE.match(cell("session"))
    if not m:
        return None
    indicators: list[str] = []
    for part in cell("indicators").split(","):
        name = clean_indicator(part)
        if name and name not in indicators:
            indicators.append(name)
    return SessionRow(session=int(m.group(1)), title=cell("title") or None, indicators=indicators)


HANDLER = Handler(
    name="session_index",
    box="inbox",
    patterns=("SESSION_INDEX.md",),
    parse=parse,
    importer="session_index",
    description="a table of sessions (number, title, indicators), each registered as assigned",
)
