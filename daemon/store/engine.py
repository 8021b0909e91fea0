"""The engine, its database sessions and the fast insert: how inboxd talks to SQLite and PostgreSQL.

SQLite gets WAL and a busy timeout; PostgreSQL gets pinged connections and a lock timeout, so a
restarted server or another daemon's lock is waited for, not a hang.
"""

from __future__ import annotations

import functools
import operator
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import Boolean, Table, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from daemon.config import Settings
from daemon.store.checkpoint import Checkpointer

PG_CONNECT_TIMEOUT = 10  # seconds: a host that does not answer is "away", not a hang
SQLITE_READONLY = 8  # the primary result code of every "attempt to write a readonly database"

Reader = Session | Connection  # what a read takes; a Connection skips the ORM's per-statement work


def make_engine(url: str, busy_timeout: float = 5.0) -> Engine:
    """An engine set up for a daemon beside other writers.

    SQLite: WAL and a busy timeout. PostgreSQL: connections are pinged before use, so a
    restarted server is reconnected to; a lock held by another daemon is waited for at most
    ``busy_timeout`` (then the pipeline's retry takes over, as for a busy SQLite file).
    """
    kwargs: dict[str, Any] = {}
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": busy_timeout, "check_same_thread": False}
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT
        if "options" not in parsed.query:
            connect_args["options"] = f"-c lock_timeout={max(1, round(busy_timeout * 1000))}"
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_timeout))
        event.listen(engine, "handle_error", _drop_read_only_connections)
    return engine


def _drop_read_only_connections(context: ExceptionContext) -> None:
    """A connection SQLite opened read-only stays read-only, even once the file is writable
    again: such an error discards the pool, so the next attempt opens the file anew (and
    writes, if it can now)."""
    code = getattr(context.original_exception, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == SQLITE_READONLY:
        context.is_disconnect = True  # the connection is invalidated, with the whole pool


def _is_sqlite_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked", raised by the driver or wrapped by SQLAlchemy."""
    return "locked" in str(getattr(exc, "orig", exc))


@functools.cache
def while_sqlite_locked(seconds: float) -> Retrying:
    """Retry, for up to this many seconds, what SQLite refused as locked.

    For the statements SQLite's busy timeout does not cover: switching a file to WAL and
    ``BEGIN IMMEDIATE`` can fail at once while another process holds the lock.
    """
    return Retrying(
        retry=retry_if_exception(_is_sqlite_locked),
        stop=stop_after_delay(seconds),
        wait=wait_random_exponential(multiplier=0.01, max=0.5),
        reraise=True,
    )


def _sqlite_pragmas(busy_timeout: float, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL is stored in the file: only a new file is switched, which needs the database to
    # itself (two daemons opening a new file together: one of them is refused, and retries)
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        while_sqlite_locked(busy_timeout)(cursor.execute, "PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def insert_many(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT rows (dicts with the same keys) the fastest way the database offers.

    When no column needs SQLAlchemy's processing, the rows go to the driver as tuples:
    SQLite in one ``executemany`` (skipping the per-row processing, a large share of a big
    import's inserts), PostgreSQL through ``COPY`` (a third of the time of psycopg's
    pipelined ``executemany`` for a burst file's 20 rows). Otherwise, Core's ``execute``.
    A driver error is raised as SQLAlchemy's, as ``execute`` would raise it.
    """
    if not rows:
        return
    dialect = connection.dialect
    keys = tuple(rows[0])
    values_of = _plain_values(table, keys, dialect)
    if values_of is None or dialect.name not in ("sqlite", "postgresql"):
        connection.execute(table.insert(), rows)
    elif dialect.name == "sqlite":
        placeholders = ", ".join("?" * len(keys))
        sql = f'INSERT INTO "{table.name}" ({_column_list(keys)}) VALUES ({placeholders})'
        connection.exec_driver_sql(sql, list(map(values_of, rows)))
    else:
        _copy_rows(
            connection, f'COPY "{table.name}" ({_column_list(keys)}) FROM STDIN', rows, values_of
        )


def _column_list(keys: tuple[str, ...]) -> str:
    return ", ".join(f'"{key}"' for key in keys)


def _copy_rows(
    connection: Connection,
    sql: str,
    rows: list[dict[str, Any]],
    values_of: Callable[[dict[str, Any]], tuple[Any, ...]],
) -> None:
    """PostgreSQL's COPY on the transaction's own connection (psycopg)."""
    import psycopg  # only a PostgreSQL database reaches here

    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(values_of(row))
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


@functools.cache
def _plain_values(
    table: Table, keys: tuple[str, ...], dialect: Dialect
) -> Callable[[dict[str, Any]], tuple[Any, ...]] | None:
    """A row's values in the order of ``keys``; None when a column's value would be converted
    by SQLAlchemy (a datetime on SQLite, JSON, an enum, a float; a bool only becomes 0 or 1,
    as sqlite3 binds it anyway), or when a column left out has a Python-side default
    SQLAlchemy would fill in."""
    for key in keys:
        column_type = table.c[key].type
        converts = column_type.dialect_impl(dialect).bind_processor(dialect) is not None
        if converts and not isinstance(column_type, Boolean):
            return None
    if any(column.default is not None for column in table.c if column.key not in keys):
        return None
    getter = operator.itemgetter(*keys)
    return getter if len(keys) > 1 else lambda row: (getter(row),)


def begin_group(db_session: Session) -> None:
    """Open a write transaction that savepoints can nest in (a group commit's).

    On SQLite the driver opens a transaction only before a data statement, so a SAVEPOINT
    sent first would open one itself, and its RELEASE would commit everything: an explicit
    ``BEGIN IMMEDIATE`` comes first (taking the write lock at once, as the group writes
    anyway). PostgreSQL is in a transaction from the first statement.
    """
    connection = db_session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


READ_CACHE = "inboxd.read_cache"


def read_cache(db_session: Session) -> dict[str, Any]:
    """What this transaction has read (or taken: its advisory locks) and may need again.

    Why: the files of a group commit share one transaction, and each would otherwise read
    the same rows anew (the indicators, say) or ask for the same lock. The cache lives as
    long as the session, which is one transaction (``Database.transaction``), and a file's
    savepoint rollback empties it, since rows it describes may have been undone (and the
    locks taken since the savepoint are released).
    """
    cache: dict[str, Any] = db_session.info.setdefault(READ_CACHE, {})
    return cache


class FileSavepoint:
    """A savepoint around one file of a group commit, in plain SQL.

    The ORM's nested transaction costs more than a small file's whole import; this is two
    statements. Rolling back also empties the session and its ``read_cache`` (objects and
    rows read since the savepoint may no longer match the database): the importers read what
    they need anew.
    """

    NAME = "inboxd_file"

    def __init__(self, db_session: Session) -> None:
        self._db_session = db_session
        self._connection = db_session.connection()
        self._connection.exec_driver_sql(f"SAVEPOINT {self.NAME}")
        self._marks = {id(held): held.savepoint() for held in savepoint_aware(db_session)}

    def release(self) -> None:
        """Keep the file's work (it commits with the group)."""
        self._connection.exec_driver_sql(f"RELEASE SAVEPOINT {self.NAME}")

    def rollback(self) -> None:
        """Undo the file's work alone; the group's transaction goes on."""
        self._connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {self.NAME}")
        self._connection.exec_driver_sql(f"RELEASE SAVEPOINT {self.NAME}")
        self._db_session.expunge_all()
        read_cache(self._db_session).clear()
        for held in savepoint_aware(self._db_session):  # one made since: back to empty
            held.rollback_to(self._marks.get(id(held), 0))


class SavepointAware(Protocol):
    """What a transaction holds in memory beside the database (the near-duplicate search's
    own pairs, ``daemon.neardup.index.Pending``), undone with a file's savepoint."""

    def savepoint(self) -> int: ...

    def rollback_to(self, mark: int) -> None: ...


SAVEPOINT_AWARE = "inboxd.savepoint_aware"


def savepoint_aware(db_session: Session) -> list[SavepointAware]:
    """What ``db_session`` holds that a file's savepoint must undo (``Session.info``)."""
    held: list[SavepointAware] = db_session.info.setdefault(SAVEPOINT_AWARE, [])
    return held


class Database:
    """The engine and a session factory; ``transaction()`` is one unit of work."""

    def __init__(self, url: str, busy_timeout: float = 5.0) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # a large import's WAL copied by a thread (SQLite files only)
        path = make_url(url).database if self.engine.dialect.name == "sqlite" else None
        self.checkpoints: Checkpointer | None = None
        if path and path != ":memory:":
            self.checkpoints = Checkpointer(path, busy_timeout)
            event.listen(self.engine, "checkin", Checkpointer.restore)
        # a Database dropped without dispose() (a one-shot command) still closes its pooled
        # connections, rather than leaving them to the garbage collector
        weakref.finalize(self, self.engine.dispose)

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        return cls(settings.url, settings.db_busy_timeout)

    @contextmanager
    def transaction(self, *, large: bool = False) -> Iterator[Session]:
        """Commit on success, roll back on any exception. ``large`` (a large file's import):
        SQLite's WAL is copied into the database by a thread after the commit
        (``daemon.store.checkpoint``), not by the commit."""
        checkpoints = self.checkpoints if large else None
        with self._sessions() as db_session:
            try:
                with db_session.begin():
                    if checkpoints is not None:
                        checkpoints.defer(db_session)
                    yield db_session
            finally:
                # what the transaction held beside the database (the reads' cache) is let go
                # before the after-commit work; the search's own pairs go with their publish
                db_session.info.clear()
        if checkpoints is not None:
            checkpoints.soon()

    @contextmanager
    def reader(self) -> Iterator[Session]:
        with self._sessions() as db_session:
            yield db_session

    def dispose(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.wait()
        self.engine.dispose()
