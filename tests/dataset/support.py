"""Helpers of the dataset tests: a root whose database went through the real pipeline.

The database is built once per session (``inboxd init`` adopting the users' legacy database,
``inboxd demo``, a delivery of awkward text, ``inboxd scan``, refinement results, ``inboxd
scan`` again), then copied for each test that takes snapshots or imports more. It holds what
the snapshot files must carry faithfully: pairs without a source file or session (adopted),
a key conflict, scores, tiers, notes, a duplicate mark, and text with commas, quotes, line
breaks, non-ASCII and HTML. The helpers that read the database and the data files are plain
SQL and each format's own reader, written apart from ``daemon/dataset/rows.py``.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
from sqlalchemy import Connection, create_engine, text

from daemon.cli.app import EXIT_OK, EXIT_REJECTED, cli
from tests.support import reset_logging

REPO = Path(__file__).resolve().parents[2]
LEGACY_SQL = REPO / "tests/files/legacy_production.sql"
ALL_FORMATS = "parquet,jsonl,csv,duckdb,rag"

# names an agent chose, with Markdown and HTML in them: the card must show them as text
ODD_INDICATOR = "*x* <b>y</b> | z"
ODD_CATEGORY = "*cat* <i>odd</i> | c"
MISSING_INDICATOR = "Never <script>alert(1)</script> Delivered"
ODD_SESSION = 7
ODD_ASSIGNMENT = f"""# Session 0{ODD_SESSION} Assignment: Odd names
Category: {ODD_CATEGORY}
## Indicators
1. {ODD_INDICATOR}
2. {MISSING_INDICATOR}
"""
# text CSV must quote and JSON must escape: commas, quotes, line breaks, non-ASCII, HTML
ODD_PAIRS = (
    {
        "question": 'Is "RSI, 14" the default, naïvely?',
        "answer": 'Yes, "14" — usually.\nSecond line, with a comma; ünïcödé 中文 🚀.\n'
        "<script>alert('x')</script>",
    },
    {
        "question": "What does <b>bold</b> & a | pipe do?",
        "answer": 'Nothing, "quoted", \'single\', back\\slash\ttab, a trailing quote"',
    },
)
ODD_FILE = f"outbox/droid/session_0{ODD_SESSION}/odd_qa_pairs.json"

# the refiner's verdicts, by question: (quality_score, tier, notes, duplicate of this question)
VERDICTS: dict[str, tuple[float | None, str | None, str | None, str | None]] = {
    ODD_PAIRS[0]["question"]: (0.3, "standard", None, None),  # a low score only
    "How is the EMA initialised?": (0.62, "low", None, None),  # a low tier only
    "Why does the SMA lag price?": (0.8, "standard", None, "What is a death cross?"),
    "What is a MACD bullish crossover?": (0.95, "premium", None, None),  # nothing to review
    "What is a Weighted Moving Average (WMA)?": (
        0.88,
        "premium",
        'check "WMA", <i>the weights</i>',
        None,
    ),
}

# The columns compared between the database and every data file (what a user trains on).
INT_COLUMNS = ("qa_id", "session", "duplicate_of")
FLOAT_COLUMNS = ("quality_score",)
BOOL_COLUMNS = ("has_formula", "has_examples", "has_sources", "crypto_specific", "key_conflict")
TEXT_COLUMNS = (
    "question_key",
    "question",
    "answer",
    "indicator",
    "category",
    "agent",
    "source_file",
    "tier",
    "refinement_notes",
)
COMPARED = (*INT_COLUMNS, *FLOAT_COLUMNS, *BOOL_COLUMNS, *TEXT_COLUMNS)

# Every stored pair with what the snapshot says of it, straight from the tables.
PAIRS_SQL = """
SELECT q.qa_id, q.question_key, q.question, q.answer,
       COALESCE(q.indicator_name, i.indicator_name) AS indicator,
       i.indicator_category AS category, q.session_number AS session, q.agent,
       f.rel_path AS source_file, q.quality_score, q.tier,
       q.has_formula, q.has_examples, q.has_sources, q.crypto_specific,
       q.duplicate_of, q.key_conflict, q.refinement_notes, f.processed_at AS imported_at
FROM qa_pairs q
LEFT JOIN crypto_indicators i ON i.id = q.indicator_id
LEFT JOIN files f ON f.id = q.source_file_id
"""

Row = dict[str, Any]


def sqlite_url(root: Path) -> str:
    """The database a root uses by default."""
    return f"sqlite:///{root / 'var' / 'inboxd.db'}"


@contextmanager
def connected(url: str) -> Iterator[Connection]:
    """A plain SQLAlchemy connection to ``url``, disposed of afterwards."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def normalized(record: Row) -> Row:
    """The compared columns of a row, booleans as bool (SQLite gives 0/1), score as float."""
    row = {name: record[name] for name in COMPARED}
    for name in BOOL_COLUMNS:
        row[name] = None if row[name] is None else bool(row[name])
    if row["quality_score"] is not None:
        row["quality_score"] = float(row["quality_score"])
    return row


def database_rows(url: str, where: str = "1 = 1", **params: Any) -> list[Row]:
    """The pairs ``where`` takes (SQL on PAIRS_SQL's names), ordered by qa_id, normalized;
    ``imported_at`` is kept beside the compared columns for the tests of ``--since``."""
    with connected(url) as connection:
        result = connection.execute(text(f"{PAIRS_SQL} WHERE {where} ORDER BY q.qa_id"), params)
        rows = [dict(row._mapping) for row in result]
    return [{**normalized(row), "imported_at": row["imported_at"]} for row in rows]


def compared(rows: list[Row]) -> list[Row]:
    """Rows reduced to the compared columns, ordered by qa_id."""
    return sorted((normalized(row) for row in rows), key=lambda row: row["qa_id"])


def _csv_value(name: str, value: str) -> Any:
    if value == "":
        return None  # RFC 4180 has no null: inboxd writes it as an empty field
    if name in INT_COLUMNS:
        return int(value)
    if name in FLOAT_COLUMNS:
        return float(value)
    if name in BOOL_COLUMNS:
        return {"true": True, "false": False}[value]
    return value


def read_csv(path: Path) -> list[Row]:
    """A CSV file through Python's csv module, typed back by column."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            {name: _csv_value(name, value) for name, value in record.items()}
            for record in csv.DictReader(handle, strict=True)
        ]


def read_duckdb(path: Path, table: str = "pairs") -> list[Row]:
    """A table (or view) of a snapshot's DuckDB file, opened read-only."""
    connection = duckdb.connect(str(path), read_only=True)
    try:
        cursor = connection.execute(f'SELECT * FROM "{table}"')
        names = [column[0] for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        connection.close()


def read_jsonl(path: Path) -> list[Row]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def read_data_file(path: Path) -> list[Row]:
    """Every row of a data file, by its own reader: pyarrow, json, csv or duckdb."""
    readers = {".parquet": lambda p: pq.read_table(p).to_pylist(), ".jsonl": read_jsonl}
    readers |= {".csv": read_csv, ".duckdb": read_duckdb}
    rows: list[Row] = readers[path.suffix](path)
    return rows


def deliver_json(root: Path, rel: str, payload: Any) -> Path:
    """Write a delivery the recommended way (temporary name, then rename)."""
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(target.name + ".part")
    temp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    temp.rename(target)
    return target


def deliver_refinement(root: Path, name: str, records: list[Row]) -> Path:
    """Refinement results from gemini: one JSON object a line."""
    target = root / "outbox" / "gemini" / name
    temp = target.with_name(target.name + ".part")
    temp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    temp.rename(target)
    return target


def qa_ids_by_question(url: str) -> dict[str, int]:
    with connected(url) as connection:
        rows = connection.execute(
            text("SELECT question, qa_id FROM qa_pairs WHERE NOT key_conflict")
        )
        return {question: qa_id for question, qa_id in rows}


def inboxd(*args: str) -> int:
    """``inboxd ARGS`` in-process (usable in a fixture of any scope); its exit code."""
    try:
        return cli(*args)
    finally:
        reset_logging()


def scan(root: Path, database_url: str | None = None, expect: int = EXIT_OK) -> None:
    """``inboxd scan``: everything waiting in the root goes through the pipeline."""
    database = ["--database", database_url] if database_url else []
    assert inboxd("scan", "--root", str(root), *database) == expect


def take_snapshot(root: Path, name: str, *options: str) -> Path:
    """``inboxd dataset snapshot NAME --root ROOT OPTIONS`` in-process; the folder written."""
    code = inboxd("dataset", "snapshot", name, "--root", str(root), *options)
    assert code == EXIT_OK, f"dataset snapshot {name} {' '.join(options)}: exit {code}"
    return root / "var" / "datasets" / name


def import_demo_set(root: Path, database_url: str | None = None) -> None:
    """The demo set, the awkward delivery and the refiner's verdicts, through ``scan``.

    The demo set holds four files that must be rejected, so the first scan exits 3.
    """
    assert inboxd("demo", "--root", str(root)) == EXIT_OK
    assignment = root / "inbox" / "droid" / f"session-0{ODD_SESSION}-assignment.md"
    assignment.write_text(ODD_ASSIGNMENT, encoding="utf-8")
    odd = {"indicator": ODD_INDICATOR, "session": ODD_SESSION, "category": ODD_CATEGORY}
    deliver_json(root, ODD_FILE, {**odd, "qa_pairs": list(ODD_PAIRS)})
    url = database_url or sqlite_url(root)
    scan(root, database_url, expect=EXIT_REJECTED)
    ids = qa_ids_by_question(url)
    records = []
    for question, (score, tier, notes, duplicate) in VERDICTS.items():
        record: Row = {"qa_id": ids[question], "quality_score": score, "tier": tier}
        if notes is not None:
            record["notes"] = notes
        if duplicate is not None:
            record["duplicate_of"] = ids[duplicate]
        records.append(record)
    deliver_refinement(root, "refinement_0002.jsonl", records)
    scan(root, database_url)


def copy_root(template: Path, where: Path) -> Path:
    """A copy of a root (files, archive, database) a test may change."""
    return Path(shutil.copytree(template, where / "root", symlinks=True))
