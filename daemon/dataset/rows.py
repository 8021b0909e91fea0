"""The one query a snapshot reads, streamed as chunks: Python rows and their Arrow batch.

One row per stored pair, ordered by indicator (the RAG records group on the fly), then by
id, so the same database gives the same bytes. Each chunk also
carries, per row, the pair's identity (its question key; a key shared by pairs kept from
before adoption gets the id appended) and a fingerprint of its exported values, which is
how an incremental snapshot and ``diff`` tell a changed pair from an unchanged one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import ColumnElement, Connection, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute

from daemon.dataset.filters import Filters, Split
from daemon.store.models import FileRecord, Indicator, QAPairRow

_INDICATOR = func.coalesce(QAPairRow.indicator_name, Indicator.indicator_name)

# (name, Arrow type, what the database gives): the data files' columns, in this order
COLUMNS: tuple[tuple[str, pa.DataType, ColumnElement[Any] | InstrumentedAttribute[Any]], ...] = (
    ("qa_id", pa.int64(), QAPairRow.qa_id),
    ("question_key", pa.string(), QAPairRow.question_key),
    ("question", pa.string(), QAPairRow.question),
    ("answer", pa.string(), QAPairRow.answer),
    ("indicator", pa.string(), _INDICATOR),
    ("category", pa.string(), Indicator.indicator_category),
    ("session", pa.int64(), QAPairRow.session_number),
    ("agent", pa.string(), QAPairRow.agent),
    ("source_file", pa.string(), FileRecord.rel_path),
    ("source_database", pa.string(), QAPairRow.source_database),
    ("pair_number", pa.int64(), QAPairRow.pair_number),
    ("difficulty", pa.string(), QAPairRow.difficulty_level),
    ("answer_length", pa.int64(), QAPairRow.answer_length),
    ("quality_score", pa.float64(), QAPairRow.quality_score),
    ("tier", pa.string(), QAPairRow.tier),
    ("has_formula", pa.bool_(), QAPairRow.has_formula),
    ("has_examples", pa.bool_(), QAPairRow.has_examples),
    ("has_sources", pa.bool_(), QAPairRow.has_sources),
    ("crypto_specific", pa.bool_(), QAPairRow.crypto_specific),
    ("duplicate_of", pa.int64(), QAPairRow.duplicate_of),
    ("near_duplicate_of", pa.int64(), QAPairRow.near_duplicate_of),
    ("near_similarity", pa.float64(), QAPairRow.near_similarity),
    ("key_conflict", pa.bool_(), QAPairRow.key_conflict),
    ("refinement_notes", pa.string(), QAPairRow.refinement_notes),
    ("created_date", pa.string(), QAPairRow.created_date),
    ("imported_at", pa.timestamp("us"), FileRecord.processed_at),
    ("refined_at", pa.timestamp("us"), QAPairRow.refined_at),
)
NAMES: tuple[str, ...] = tuple(name for name, _, _ in COLUMNS)
INDEX = {name: i for i, name in enumerate(NAMES)}
SPLIT_COLUMN = "split"
# columns whose values differ by driver (SQLite: 0/1 and text); Arrow casts them to their type
_FLAGS = tuple(name for name, kind, _ in COLUMNS if kind == pa.bool_())
_TIMES = tuple(name for name, kind, _ in COLUMNS if kind == pa.timestamp("us"))
_DRIVER_TYPED = frozenset((*_FLAGS, *_TIMES))
BATCH_ROWS = 5000  # rows per chunk: a few MB of text; also the Parquet row group


def data_schema(split: Split | None) -> pa.Schema:
    """The data files' schema: every column, and ``split`` when the snapshot is split."""
    fields = [pa.field(name, kind) for name, kind, _ in COLUMNS]
    if split is not None:
        fields.append(pa.field(SPLIT_COLUMN, pa.string()))
    return pa.schema(fields)


def statement(filters: Filters) -> Select[Any]:
    """Every stored pair the filters take, in the snapshot's order."""
    query = (
        select(*(expression.label(name) for name, _, expression in COLUMNS))
        .select_from(QAPairRow)
        .outerjoin(Indicator, Indicator.id == QAPairRow.indicator_id)
        .outerjoin(FileRecord, FileRecord.id == QAPairRow.source_file_id)
    )
    for condition in conditions(filters):
        query = query.where(condition)
    # the indicator index's own order: no sort, and the RAG records group as they stream
    return query.order_by(QAPairRow.indicator_id, QAPairRow.qa_id)


def conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """The WHERE clauses of ``filters`` (none: every pair)."""
    found: list[ColumnElement[bool]] = []
    if filters.tiers:
        found.append(QAPairRow.tier.in_(filters.tiers))
    if filters.min_score is not None:
        found.append(QAPairRow.quality_score >= filters.min_score)
    if filters.agents:
        found.append(QAPairRow.agent.in_(filters.agents))
    if filters.indicators:
        found.append(func.lower(_INDICATOR).in_([i.lower() for i in filters.indicators]))
    if filters.categories:
        wanted = [c.lower() for c in filters.categories]
        found.append(func.lower(Indicator.indicator_category).in_(wanted))
    if filters.sessions is not None:
        found.append(QAPairRow.session_number.between(*filters.sessions))
    if filters.since is not None:
        found.append(FileRecord.processed_at >= filters.since)
    if filters.exclude_duplicates:
        found.append(QAPairRow.duplicate_of.is_(None))
    if filters.exclude_near_duplicates:
        found.append(QAPairRow.near_duplicate_of.is_(None))
    return found


def pair_identity(question_key: str | None, qa_id: int, key_conflict: bool) -> str:
    """How snapshots name a pair: its question key, made unique where keys are shared."""
    if question_key is None:
        return f"qa:{qa_id}"
    return f"{question_key}#{qa_id}" if key_conflict else question_key


def fingerprints(rows: list[tuple[Any, ...]]) -> list[bytes]:
    """8 bytes of BLAKE2b over each row's exported values: equal bytes, an unchanged pair."""
    blake2b, dumps = hashlib.blake2b, orjson.dumps  # one lookup for the whole chunk
    return [blake2b(dumps(row), digest_size=8).digest() for row in rows]


@dataclass
class Chunk:
    """Some rows of the stream, in the order read, with what each writer needs of them."""

    rows: list[tuple[Any, ...]]
    splits: list[str] | None  # each row's split, when the snapshot is split
    schema: pa.Schema
    identities: list[str]  # pair_identity of each row
    fingerprints: list[bytes]  # fingerprints of each row

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]], splits: list[str] | None, schema: pa.Schema) -> Chunk:
        qa_id, key, conflict = INDEX["qa_id"], INDEX["question_key"], INDEX["key_conflict"]
        identities = [pair_identity(r[key], r[qa_id], bool(r[conflict])) for r in rows]
        return cls(rows, splits, schema, identities, fingerprints(rows))

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def batch(self) -> pa.RecordBatch:
        """The rows as Arrow columns, in the data files' schema (Arrow types the driver's
        values: SQLite's 0/1 and text times, PostgreSQL's booleans and datetimes alike)."""
        columns = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(NAMES)
        arrays = [
            pa.array(values).cast(kind) if name in _DRIVER_TYPED else pa.array(values, type=kind)
            for values, (name, kind, _) in zip(columns, COLUMNS, strict=True)
        ]
        if self.splits is not None:
            arrays.append(pa.array(self.splits, type=pa.string()))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts with Python's types (JSON Lines)."""
        records = [_typed(dict(zip(NAMES, row, strict=True))) for row in self.rows]
        if self.splits is not None:
            for record, part in zip(records, self.splits, strict=True):
                record[SPLIT_COLUMN] = part
        return records

    def only(self, keep: list[int]) -> Chunk:
        """The rows at ``keep`` (an incremental snapshot leaves out unchanged pairs)."""
        return Chunk(
            rows=[self.rows[i] for i in keep],
            splits=None if self.splits is None else [self.splits[i] for i in keep],
            schema=self.schema,
            identities=[self.identities[i] for i in keep],
            fingerprints=[self.fingerprints[i] for i in keep],
        )


def _typed(record: dict[str, Any]) -> dict[str, Any]:
    """A record's flags as booleans and times as datetimes, whichever driver read them."""
    for name in _FLAGS:
        if record[name] is not None:
            record[name] = bool(record[name])
    for name in _TIMES:
        if isinstance(record[name], str):
            record[name] = datetime.fromisoformat(record[name])
    return record


def _driver_cursor(connection: Connection, query: Select[Any]) -> Any:
    """The driver's own cursor on ``query``, in the connection's transaction: its rows are
    plain tuples, not turned into SQLAlchemy rows one by one (a third of the time, measured).

    Server-side on PostgreSQL, so rows come as they are read. A driver cursor takes no
    SQLAlchemy parameters: the filters' values are rendered into the SQL by the dialect, quoted
    as it quotes every literal (they are the operator's own command line, already checked).
    """
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.dbapi_connection
    assert driver is not None  # an open Connection always has one
    named = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name="inboxd_snapshot") if named else driver.cursor()
    cursor.execute(sql)
    return cursor


def chunks(connection: Connection, filters: Filters, split: Split | None) -> Iterator[Chunk]:
    """The pairs ``filters`` take, ``BATCH_ROWS`` at a time, never all of them at once.

    The values are the driver's own (SQLite: 0/1 and text times), typed by Arrow per chunk.
    """
    schema = data_schema(split)
    cursor = _driver_cursor(connection, statement(filters))
    key, qa_id = INDEX["question_key"], INDEX["qa_id"]
    try:
        while rows := cursor.fetchmany(BATCH_ROWS):
            splits = None if split is None else [split.of(r[key], f"qa:{r[qa_id]}") for r in rows]
            yield Chunk.of(rows, splits, schema)
    finally:
        cursor.close()
