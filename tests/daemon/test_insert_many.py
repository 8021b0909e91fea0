"""``db.insert_many``: on SQLite the rows go to the driver, and must be stored exactly as
SQLAlchemy's Core insert stores them."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table

from daemon.store import migrate
from daemon.store.engine import Database, _plain_values, insert_many
from daemon.store.models import Base, FileRecord, Indicator, QAPairRow


def _table(model: type[Base]) -> Table:
    """A model's table, typed as the Table it is (SQLAlchemy types ``__table__`` loosely)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


QA_PAIRS, FILES = _table(QAPairRow), _table(FileRecord)


def _rows() -> list[dict[str, Any]]:
    """Every kind of value the importer's pair rows hold: ints, text, booleans both ways, NULLs."""
    base: dict[str, Any] = {
        "indicator_id": 1,
        "indicator_name": "RSI",
        "pair_number": 1,
        "question": "q",
        "answer": "a",
        "difficulty_level": None,
        "answer_length": 1,
        "has_formula": True,
        "has_examples": False,
        "has_sources": True,
        "crypto_specific": False,
        "created_date": "2026-11-30",
        "question_key": "k",
        "key_conflict": False,
        "session_number": None,
        "agent": "droid",
        "source_file_id": None,
        "source_database": None,
        "source_ref": None,
    }
    return [
        base,
        {
            **base,
            "pair_number": 2,
            "question": "Ünïcödé — ſ, K, İ?",
            "answer": "x" * 5000,
            "answer_length": 5000,
            "has_formula": False,
            "has_examples": True,
            "question_key": "k2",
            "session_number": 43,
            "difficulty_level": "advanced",
            "key_conflict": True,
            "source_ref": "rag-1",
        },
        {
            **base,
            "pair_number": 2**40,
            "question": "'; DROP TABLE qa_pairs; --",
            "question_key": "k3",
            "answer": "line\nbreak\ttab\x01",
        },
    ]


def _stored(path: Path) -> list[tuple[Any, ...]]:
    """The rows as SQLite holds them: each value with its storage class."""
    with closing(sqlite3.connect(path)) as connection:
        names = [row[1] for row in connection.execute("PRAGMA table_info(qa_pairs)")]
        typed = ", ".join(f'"{n}", typeof("{n}")' for n in names)
        return connection.execute(f"SELECT {typed} FROM qa_pairs ORDER BY qa_id").fetchall()


def _database(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    with db.engine.begin() as connection:
        connection.execute(_table(Indicator).insert(), [{"id": 1, "indicator_name": "RSI"}])
    return db


def test_rows_are_stored_exactly_as_the_core_insert_stores_them(tmp_path: Path) -> None:
    direct, core = _database(tmp_path / "direct.db"), _database(tmp_path / "core.db")
    assert _plain_values(QA_PAIRS, tuple(_rows()[0]), direct.engine.dialect) is not None
    try:
        with direct.engine.begin() as connection:
            insert_many(connection, QA_PAIRS, _rows())
        with core.engine.begin() as connection:
            connection.execute(QA_PAIRS.insert(), _rows())
    finally:
        direct.dispose()
        core.dispose()
    stored = _stored(tmp_path / "direct.db")
    assert len(stored) == 3
    assert stored == _stored(tmp_path / "core.db")


def test_a_column_sqlalchemy_must_convert_goes_through_core(tmp_path: Path) -> None:
    """A datetime is stored in SQLAlchemy's text form, and a column left out gets its
    Python-side default, as Core's insert does (the driver would do neither). A float column
    (SQLAlchemy converts its values) goes through Core too."""
    db = _database(tmp_path / "files.db")
    processed = datetime(2026, 11, 30, 9, 5, 1, 250000)
    row = {
        "agent": "droid",
        "box": "outbox",
        "rel_path": "outbox/droid/a.json",
        "sha256": "0" * 64,
        "size": 1,
        "outcome": "imported",
        "processed_at": processed,
    }
    try:
        with db.engine.begin() as connection:
            insert_many(connection, FILES, [row])
            insert_many(connection, FILES, [])  # nothing to do, no error
            insert_many(
                connection,
                FILES,
                [{k: v for k, v in row.items() if k != "processed_at"} | {"sha256": "2" * 64}],
            )
    finally:
        db.dispose()
    with closing(sqlite3.connect(tmp_path / "files.db")) as connection:
        stored = connection.execute(
            "SELECT processed_at, seen_count, pairs_stored FROM files ORDER BY id"
        ).fetchall()
    assert stored[0] == ("2026-11-30 09:05:01.250000", 1, 0)
    assert len(stored) == 2 and stored[1][0] is not None and stored[1][1:] == (1, 0)
    assert _plain_values(QA_PAIRS, (*_rows()[0], "quality_score"), db.engine.dialect) is None
