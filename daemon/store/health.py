"""What the database engine itself says about the database: can it be written, is it intact,
are the constraints inboxd relies on in place (``inboxd doctor``, ``doctor --deep``).

Each answer is a list of problems in words (empty: none). Nothing here changes the database:
the write probe is rolled back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Index, Table, UniqueConstraint, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from daemon.store.engine import Database
from daemon.store.models import Base
from daemon.store.revisions import VERSION_TABLE

PROBE_VERSION = "inboxd-doctor-probe"  # never committed
SHOWN = 5  # problems named in a finding; the rest counted


def write_refusal(db: Database) -> str | None:
    """Why the database refuses a write, or None: a row written into the version table in
    a transaction that is rolled back, as the daemon's own writes would be (on SQLite, a file
    opened read-only answers every read and refuses this)."""
    try:
        with db.engine.connect() as connection, connection.begin() as transaction:
            connection.execute(
                text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:probe)"),
                {"probe": PROBE_VERSION},
            )
            transaction.rollback()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return None


def sqlite_integrity(db: Database) -> tuple[list[str], Counter[str]]:
    """SQLite's own checks: ``integrity_check``'s complaints (damaged pages, indexes that
    disagree with their tables) and, by ``table -> parent``, the rows ``foreign_key_check``
    finds pointing at rows that do not exist."""
    with db.engine.connect() as connection:
        damage = [row[0] for row in connection.exec_driver_sql("PRAGMA integrity_check")]
        dangling = Counter(
            f"{table} -> {parent}"
            for table, _rowid, parent, _fkid in connection.exec_driver_sql(
                "PRAGMA foreign_key_check"
            )
        )
    return ([] if damage == ["ok"] else damage), dangling


def missing_constraints(db: Database) -> list[str]:
    """The unique indexes and constraints of inboxd's tables (what keeps a question, a ledger
    row, ... from being stored twice) that the database lacks or has in another form; on
    PostgreSQL also those left invalid (a failed ``CREATE INDEX CONCURRENTLY``)."""
    with db.engine.connect() as connection:
        problems = [
            problem
            for table in Base.metadata.sorted_tables
            for problem in _table_problems(connection, table)
        ]
        if connection.dialect.name == "postgresql":
            problems += _invalid_postgresql_indexes(connection)
    return problems


def _expected(table: Table) -> Iterator[tuple[str, str, tuple[str, ...], bool]]:
    """(kind, name, columns, partial) of each unique index and constraint of a table."""
    for index in table.indexes:
        if index.unique and index.name:
            yield "unique index", index.name, _columns(index), _partial(index.dialect_kwargs)
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and isinstance(constraint.name, str):
            yield "unique constraint", constraint.name, tuple(constraint.columns.keys()), False


def _columns(index: Index) -> tuple[str, ...]:
    return tuple(str(getattr(expression, "name", expression)) for expression in index.expressions)


def _partial(options: Any) -> bool:
    return any(key.endswith("_where") and value is not None for key, value in options.items())


def _table_problems(connection: Connection, table: Table) -> Iterator[str]:
    inspector = inspect(connection)
    if not inspector.has_table(table.name):
        yield f"{table.name}: table missing"
        return
    found: dict[str, tuple[tuple[str, ...], bool]] = {
        str(index["name"]): (
            tuple(str(c) for c in index["column_names"]),
            _partial(index.get("dialect_options", {})),
        )
        for index in inspector.get_indexes(table.name)
        if index["unique"]
    }
    for constraint in inspector.get_unique_constraints(table.name):
        found.setdefault(str(constraint["name"]), (tuple(constraint["column_names"]), False))
    for kind, name, columns, partial in _expected(table):
        if name not in found:
            yield f"{table.name}: {kind} {name} missing"
        elif found[name] != (columns, partial):
            yield f"{table.name}: {kind} {name} is on {found[name][0]}, not {columns}" + (
                " (partial)" if partial else ""
            )


def _invalid_postgresql_indexes(connection: Connection) -> list[str]:
    rows = connection.execute(
        text(
            "SELECT t.relname, i.relname FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " WHERE NOT (x.indisvalid AND x.indisready) AND t.relname = ANY(:tables)"
            " AND pg_table_is_visible(t.oid)"
        ),
        {"tables": list(Base.metadata.tables)},
    )
    return [f"{table}: index {index} is invalid (a failed build)" for table, index in rows]
