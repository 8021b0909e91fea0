"""``inboxd dataset snapshot`` on PostgreSQL: the same files, row for row, as on SQLite.

The demo set, the awkward delivery and the refiner's verdicts go through ``inboxd scan
--database postgresql+psycopg://...``; the snapshot's data files, each read by its own reader,
must equal plain SQL over the server's tables (tests/dataset/conftest.py has the shared
delivery and readers).
"""

from __future__ import annotations

import json
from pathlib import Path

from daemon.config import Settings
from daemon.store.engine import Database
from tests.dataset.support import (
    ALL_FORMATS,
    ODD_PAIRS,
    compared,
    database_rows,
    import_demo_set,
    read_data_file,
    take_snapshot,
)

DATA_FILES = ("pairs.parquet", "pairs.duckdb", "pairs.jsonl", "pairs.csv")


def test_each_format_read_by_its_own_reader_equals_the_postgresql_rows(
    settings: Settings, db: Database, root: Path
) -> None:
    url = settings.url
    import_demo_set(root, url)
    expected = compared(database_rows(url))
    assert {row["answer"] for row in expected} >= {pair["answer"] for pair in ODD_PAIRS}
    assert {row["tier"] for row in expected} >= {"premium", "standard", "low"}

    folder = take_snapshot(root, "pg", "--database", url, "--format", ALL_FORMATS)
    for data_file in DATA_FILES:
        assert compared(read_data_file(folder / data_file)) == expected, data_file
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["database"], manifest["pairs"]) == ("postgresql", len(expected))
    assert manifest["files"]["rag.jsonl"]["rows"] == len({row["indicator"] for row in expected})
