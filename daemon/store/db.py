"""Database models, engine and sessions (SQLAlchemy 2, typed).

``crypto_indicators`` and ``qa_pairs`` keep the names and columns of the users' production
database so it can be adopted in place; inboxd only adds columns and tables. Importers are the
only code that writes these tables.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
    text,
)
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from daemon.config import Settings
from daemon.errors import TransientError

QUESTION_KEY_INDEX = "uq_qa_pairs_question_key"
# BIGINT where 32 bits are too few; SQLite's INTEGER is 64-bit already (and stays as created)
INT64 = BigInteger().with_variant(Integer(), "sqlite")
MAX_NAMED_LOCKS = 64  # per transaction, beyond which one lock stands for the whole namespace
PG_CONNECT_TIMEOUT = 10  # seconds: a host that does not answer is "away", not a hang


def utcnow() -> datetime:
    """Naive UTC: what both SQLite and PostgreSQL give back unchanged."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Indicator(Base):
    """Legacy ``crypto_indicators``: one row per indicator, whatever sessions it spans."""

    __tablename__ = "crypto_indicators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    indicator_name: Mapped[str] = mapped_column(Text, nullable=False)
    indicator_category: Mapped[str | None] = mapped_column(Text)
    session_number: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class QAPairRow(Base):
    """Legacy ``qa_pairs`` plus inboxd's columns (question key, provenance, refinement)."""

    __tablename__ = "qa_pairs"

    qa_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("crypto_indicators.id"))
    indicator_name: Mapped[str | None] = mapped_column(Text)
    pair_number: Mapped[int | None] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text, nullable=False)
    answer: Mapped[str] = mapped_column(Text, nullable=False)
    difficulty_level: Mapped[str | None] = mapped_column(Text)
    answer_length: Mapped[int | None] = mapped_column(Integer)
    has_formula: Mapped[bool | None] = mapped_column(Boolean)
    has_examples: Mapped[bool | None] = mapped_column(Boolean)
    has_sources: Mapped[bool | None] = mapped_column(Boolean)
    crypto_specific: Mapped[bool | None] = mapped_column(Boolean)
    created_date: Mapped[str | None] = mapped_column(Text)
    # inboxd's own columns
    question_key: Mapped[str | None] = mapped_column(String(64))
    key_conflict: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    session_number: Mapped[int | None] = mapped_column(Integer)
    agent: Mapped[str | None] = mapped_column(Text)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    source_database: Mapped[str | None] = mapped_column(Text)
    source_ref: Mapped[str | None] = mapped_column(Text)
    quality_score: Mapped[float | None] = mapped_column(Float)
    tier: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    refinement_notes: Mapped[str | None] = mapped_column(Text)
    refined_at: Mapped[datetime | None] = mapped_column(DateTime)
    handed_at: Mapped[datetime | None] = mapped_column(DateTime)
    handed_file: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # One key, one pair; rows that were duplicates before adoption are marked and exempt.
        Index(
            "uq_qa_pairs_question_key",
            "question_key",
            unique=True,
            sqlite_where=text("key_conflict = 0"),
            postgresql_where=text("NOT key_conflict"),
        ),
        Index("ix_qa_pairs_indicator_id", "indicator_id"),
        Index("ix_qa_pairs_source_file_id", "source_file_id"),
        Index("ix_qa_pairs_indicator_pair_number", "indicator_id", "pair_number"),
        Index("ix_qa_pairs_agent_session", "agent", "session_number"),
        Index("ix_qa_pairs_session_indicator", "session_number", "indicator_name"),
        # partial: the status view counts only these rows (0005)
        Index("ix_qa_pairs_tier", "tier", sqlite_where=text("tier IS NOT NULL"),
              postgresql_where=text("tier IS NOT NULL")),
        Index("ix_qa_pairs_key_conflict", "key_conflict", sqlite_where=text("key_conflict = 1"),
              postgresql_where=text("key_conflict")),
        Index("ix_qa_pairs_handed_refined", "refined_at",
              sqlite_where=text("handed_at IS NOT NULL"),
              postgresql_where=text("handed_at IS NOT NULL")),
    )


class FileRecord(Base):
    """The ledger: one row per (path, content) ever handled, with its outcome."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(Text, nullable=False)
    box: Mapped[str] = mapped_column(String(8), nullable=False)
    rel_path: Mapped[str] = mapped_column(Text, nullable=False)  # relative to the root
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # 64-bit: nanosecond times and sizes over 2 GiB overflow PostgreSQL's INTEGER (0003)
    size: Mapped[int] = mapped_column(INT64, nullable=False)
    mtime_ns: Mapped[int | None] = mapped_column(INT64)
    kind: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    pairs_delivered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pairs_stored: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pairs_duplicate: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pairs_skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pairs_filtered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    archive_path: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    seen_count: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    ms: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        UniqueConstraint("rel_path", "sha256", name="uq_files_path_content"),
        Index("ix_files_agent_outcome", "agent", "outcome"),
        Index("ix_files_agent_id", "agent", "id"),  # an agent's last files (0005)
    )


class SessionPlan(Base):
    """A session known to inboxd: from an assignment file or a row of SESSION_INDEX.md."""

    __tablename__ = "sessions"

    session_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agent: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    target_per_indicator: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)  # assignment | index
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class SessionIndicator(Base):
    """The indicators a session is expected to deliver, in the order given."""

    __tablename__ = "session_indicators"

    session_number: Mapped[int] = mapped_column(
        ForeignKey("sessions.session_number", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    indicator_name: Mapped[str] = mapped_column(Text, nullable=False)


class ProgressClaimRow(Base):
    """An agent's own ``status.txt`` claim, kept to show beside the database's numbers."""

    __tablename__ = "progress_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(Text, nullable=False)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    sessions_complete: Mapped[int | None] = mapped_column(Integer)
    sessions_total: Mapped[int | None] = mapped_column(Integer)
    current_session: Mapped[int | None] = mapped_column(Integer)
    last_updated: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class SignalRow(Base):
    """A completion signal and what closing its batch found."""

    __tablename__ = "signals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(Text, nullable=False)
    batch_no: Mapped[int] = mapped_column(Integer, nullable=False)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # closed | already-closed
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    findings: Mapped[dict[str, Any] | None] = mapped_column(JSON)


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
    return engine


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
    """INSERT rows (dicts with the same keys) in one executemany.

    On SQLite, when no column needs SQLAlchemy's processing, the rows go to the driver as
    tuples: that per-row processing was a fifth of a large import's inserts (the bench's
    12,188 pairs: 0.26 s through Core, 0.21 s this way). Otherwise, Core's ``execute``.
    """
    if not rows:
        return
    dialect = connection.dialect
    plan = _sqlite_insert(table, tuple(rows[0]), dialect) if dialect.name == "sqlite" else None
    if plan is None:
        connection.execute(table.insert(), rows)
        return
    sql, values_of = plan
    connection.exec_driver_sql(sql, list(map(values_of, rows)))


@functools.cache
def _sqlite_insert(
    table: Table, keys: tuple[str, ...], dialect: Dialect
) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]] | None:
    """The INSERT statement for these columns and a row's values in its order; None when a
    column's value would be converted by SQLAlchemy (a datetime, JSON, an enum, a float; a
    bool only becomes 0 or 1, as sqlite3 binds it anyway), or when a column left out has a
    Python-side default SQLAlchemy would fill in."""
    for key in keys:
        column_type = table.c[key].type
        converts = column_type.dialect_impl(dialect).bind_processor(dialect) is not None
        if converts and not isinstance(column_type, Boolean):
            return None
    if any(column.default is not None for column in table.c if column.key not in keys):
        return None
    columns = ", ".join(f'"{key}"' for key in keys)
    sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({", ".join("?" * len(keys))})'
    getter = operator.itemgetter(*keys)
    return sql, (getter if len(keys) > 1 else lambda row: (getter(row),))


class KeyConflict(TransientError):
    """Another daemon committed a question this unit of work was storing: run it again.

    The retry reads the other daemon's rows and counts the question as a duplicate.
    """


def is_question_key_conflict(exc: IntegrityError) -> bool:
    """True when the unique question key, not any other constraint, was violated."""
    diag = getattr(exc.orig, "diag", None)  # psycopg names the constraint
    if diag is not None:
        return getattr(diag, "constraint_name", None) == QUESTION_KEY_INDEX
    return str(exc.orig).startswith("UNIQUE constraint failed: qa_pairs.question_key")


def serialize_on(
    session: Session, names: Iterable[str], namespace: str, *, whole: bool = False
) -> None:
    """Hold a transaction lock per name (case-insensitive) until commit, on PostgreSQL.

    Several daemons on one PostgreSQL database take these before reading what they will
    write (indicators, pair numbers), so those reads and writes are serialized per name.
    Every writer also holds the namespace's lock in shared mode; one with more than
    ``MAX_NAMED_LOCKS`` names (a whole-database export) takes that one exclusively instead,
    so the server's lock table is never filled, and so does one that cannot name them all
    up front (``whole``: a streamed file). Keys are taken in one order (namespace, then
    ascending), so two writers never wait on each other in a circle.
    On SQLite the database's single write lock already serializes writers: nothing to do.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({lock_key(namespace, name) for name in names})
    whole_key = lock_key(namespace, "")
    if whole or len(keys) > MAX_NAMED_LOCKS:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": whole_key})
        return
    session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": whole_key})
    for key in keys:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def lock_key(namespace: str, name: str) -> int:
    """A stable signed 64-bit advisory lock key (the same on every host and Python)."""
    digest = hashlib.blake2b(f"inboxd:{namespace}:{name.casefold()}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


class Database:
    """The engine and a session factory; ``transaction()`` is one unit of work."""

    def __init__(self, url: str, busy_timeout: float = 5.0) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # a Database dropped without dispose() (a one-shot command) still closes its pooled
        # connections, rather than leaving them to the garbage collector
        weakref.finalize(self, self.engine.dispose)

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        return cls(settings.url, settings.db_busy_timeout)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit on success, roll back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


class AnswerVersion(Base):
    """An answer replaced under the prefer-longer policy: nothing overwritten without a trace."""

    __tablename__ = "answer_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    qa_id: Mapped[int] = mapped_column(ForeignKey("qa_pairs.qa_id"), nullable=False, index=True)
    answer: Mapped[str] = mapped_column(Text, nullable=False)
    answer_length: Mapped[int] = mapped_column(Integer, nullable=False)
    source_database: Mapped[str | None] = mapped_column(Text)
    source_file_id: Mapped[int | None] = mapped_column(Integer)
    replaced_by_file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    replaced_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class PendingRefinement(Base):
    """A refinement record whose pair is not stored yet: applied when that pair arrives."""

    __tablename__ = "refinement_pending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question_key: Mapped[str | None] = mapped_column(String(64), index=True)
    qa_id: Mapped[int | None] = mapped_column(Integer, index=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
