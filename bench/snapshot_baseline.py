"""The straightforward snapshot: fetch every row, build one Arrow table, write it.

The baseline of the ``datasets`` scenario (issue 15): what a person would write by hand
against an inboxd SQLite database, with nothing of inboxd imported. The query is
``daemon/dataset/rows.py``'s ``statement`` without filters, written out (same columns, joins
and order); the Arrow types are the snapshot's, so both write the same table.

    python bench/snapshot_baseline.py DB OUT --format parquet|duckdb
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

QUERY = """
SELECT qa_pairs.qa_id, qa_pairs.question_key, qa_pairs.question, qa_pairs.answer,
       coalesce(qa_pairs.indicator_name, crypto_indicators.indicator_name),
       crypto_indicators.indicator_category, qa_pairs.session_number, qa_pairs.agent,
       files.rel_path, qa_pairs.source_database, qa_pairs.pair_number,
       qa_pairs.difficulty_level, qa_pairs.answer_length, qa_pairs.quality_score,
       qa_pairs.tier, qa_pairs.has_formula, qa_pairs.has_examples, qa_pairs.has_sources,
       qa_pairs.crypto_specific, qa_pairs.duplicate_of, qa_pairs.key_conflict,
       qa_pairs.refinement_notes, qa_pairs.created_date, files.processed_at,
       qa_pairs.refined_at
FROM qa_pairs
LEFT OUTER JOIN crypto_indicators ON crypto_indicators.id = qa_pairs.indicator_id
LEFT OUTER JOIN files ON files.id = qa_pairs.source_file_id
ORDER BY qa_pairs.indicator_id, qa_pairs.qa_id
"""

# (name, Arrow type, what SQLite gives when that differs: booleans are 0/1, times are text)
_BOOL, _TIME = pa.bool_(), pa.timestamp("us")
COLUMNS: tuple[tuple[str, Any], ...] = (
    ("qa_id", pa.int64()),
    ("question_key", pa.string()),
    ("question", pa.string()),
    ("answer", pa.string()),
    ("indicator", pa.string()),
    ("category", pa.string()),
    ("session", pa.int64()),
    ("agent", pa.string()),
    ("source_file", pa.string()),
    ("source_database", pa.string()),
    ("pair_number", pa.int64()),
    ("difficulty", pa.string()),
    ("answer_length", pa.int64()),
    ("quality_score", pa.float64()),
    ("tier", pa.string()),
    ("has_formula", _BOOL),
    ("has_examples", _BOOL),
    ("has_sources", _BOOL),
    ("crypto_specific", _BOOL),
    ("duplicate_of", pa.int64()),
    ("key_conflict", _BOOL),
    ("refinement_notes", pa.string()),
    ("created_date", pa.string()),
    ("imported_at", _TIME),
    ("refined_at", _TIME),
)


def column(values: tuple[Any, ...], kind: Any) -> Any:
    """One Arrow column from the database's values (cast where SQLite stores another type)."""
    if kind == _BOOL:
        return pa.array(values, type=pa.int64()).cast(_BOOL)
    if kind == _TIME:
        return pa.array(values, type=pa.string()).cast(_TIME)
    return pa.array(values, type=kind)


def table(db: Path) -> Any:
    """Every pair as one Arrow table: all rows fetched, then turned into columns."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = connection.execute(QUERY).fetchall()
    connection.close()
    values = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
    arrays = [column(v, kind) for v, (_, kind) in zip(values, COLUMNS, strict=True)]
    return pa.Table.from_arrays(arrays, names=[name for name, _ in COLUMNS])


def write(data: Any, out: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(data, out, compression="zstd")
        return
    connection = duckdb.connect(str(out))
    connection.register("arrow_pairs", data)
    connection.execute("CREATE TABLE pairs AS SELECT * FROM arrow_pairs")
    connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fetch every pair, build one Arrow table, write it."
    )
    parser.add_argument("db", type=Path, help="the inboxd SQLite database")
    parser.add_argument("out", type=Path, help="the file to write")
    parser.add_argument("--format", choices=("parquet", "duckdb"), default="parquet")
    args = parser.parse_args(argv)
    data = table(args.db)
    write(data, args.out, args.format)
    print(f"{data.num_rows} rows written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
