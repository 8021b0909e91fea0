"""Snapshots against each other, by pair: an incremental snapshot's parent, and ``diff``.

Both read ``keys.parquet`` (every pair a snapshot stands for, with the fingerprint of its
values). The joins run in DuckDB, which reads Parquet itself and spills to disk rather than
holding two million-row key sets in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import duckdb
import orjson
import pyarrow.parquet as pq

from daemon.dataset.extras import KEYS_FILE
from daemon.dataset.formats import DUCKDB_MEMORY_LIMIT, DUCKDB_OFFLINE, Written
from daemon.dataset.manifest import ManifestError

REMOVED_FILE = "removed.jsonl"
_FETCH_ROWS = 10_000


def _duckdb() -> duckdb.DuckDBPyConnection:
    config: dict[str, str | bool | int | float | list[str]] = {
        **DUCKDB_OFFLINE,
        "memory_limit": DUCKDB_MEMORY_LIMIT,
    }
    return duckdb.connect(config=config)


def _quoted(path: Path) -> str:
    """A path as a DuckDB string literal (the folder names are inboxd's own, but quote anyway)."""
    return "'" + str(path).replace("'", "''") + "'"


@dataclass
class ParentState:
    """What an incremental snapshot leaves out: its parent's pairs, by fingerprint."""

    keys: Path
    fingerprints: set[bytes]

    @classmethod
    def load(cls, folder: Path) -> ParentState:
        keys = keys_of(folder)
        column = pq.read_table(keys, columns=["fingerprint"]).column("fingerprint")
        return cls(keys=keys, fingerprints=set(column.to_pylist()))

    def is_new(self, fingerprint: bytes) -> bool:
        """Added or changed since the parent (no pair of the parent has these values)."""
        return fingerprint not in self.fingerprints


def keys_of(folder: Path) -> Path:
    """A snapshot's ``keys.parquet``, or an error saying how to find what happened to it."""
    keys = folder / KEYS_FILE
    if not keys.is_file():
        raise ManifestError(
            f"{keys}: missing; snapshot {folder.name} cannot be compared "
            f"(see 'inboxd dataset verify {folder.name}')"
        )
    return keys


def write_removed(parent_keys: Path, current_keys: Path, folder: Path) -> Written:
    """``removed.jsonl``: the parent's pairs the new snapshot no longer stands for."""
    query = (
        f"SELECT p.pair, p.qa_id FROM read_parquet({_quoted(parent_keys)}) p "
        f"ANTI JOIN read_parquet({_quoted(current_keys)}) c ON p.pair = c.pair ORDER BY p.pair"
    )
    rows = 0
    connection = _duckdb()
    try:
        reader = connection.sql(query).to_arrow_reader(_FETCH_ROWS)
        handle: IO[bytes]
        with (folder / REMOVED_FILE).open("wb") as handle:
            for batch in reader:
                handle.write(b"".join(orjson.dumps(record) + b"\n" for record in batch.to_pylist()))
                rows += batch.num_rows
    finally:
        connection.close()
    return Written(REMOVED_FILE, rows)


@dataclass
class Change:
    pair: str
    qa_id_before: int | None
    qa_id_after: int | None


@dataclass
class Diff:
    """Pairs added, removed and changed from snapshot A to B, with the first few of each."""

    added: int = 0
    removed: int = 0
    changed: int = 0
    unchanged: int = 0
    examples: dict[str, list[Change]] = field(
        default_factory=lambda: {"added": [], "removed": [], "changed": []}
    )


def diff(before: Path, after: Path, examples: int) -> Diff:
    """Compare two snapshots' keys: what a consumer of A must change to have B."""
    a, b = _quoted(keys_of(before)), _quoted(keys_of(after))
    joined = (
        f"SELECT coalesce(a.pair, b.pair) AS pair, a.qa_id AS before, b.qa_id AS after, "
        f"CASE WHEN a.pair IS NULL THEN 'added' WHEN b.pair IS NULL THEN 'removed' "
        f"WHEN a.fingerprint <> b.fingerprint THEN 'changed' ELSE 'unchanged' END AS change "
        f"FROM read_parquet({a}) a FULL OUTER JOIN read_parquet({b}) b ON a.pair = b.pair"
    )
    found = Diff()
    connection = _duckdb()
    try:
        counts = connection.execute(
            f"SELECT change, count(*) FROM ({joined}) GROUP BY change"
        ).fetchall()
        for change, count in counts:
            setattr(found, change, count)
        for change in ("added", "removed", "changed"):
            rows = connection.execute(
                f"SELECT pair, before, after FROM ({joined}) WHERE change = ? "
                f"ORDER BY pair LIMIT ?",
                [change, examples],
            ).fetchall()
            found.examples[change] = [Change(*row) for row in rows]
    finally:
        connection.close()
    return found
