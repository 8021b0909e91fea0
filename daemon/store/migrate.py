"""Bring a database to the current schema, creating it or adopting a legacy one in place.

Adoption never drops or rewrites a row: migrations only add, and the question keys of rows
that lack one (adopted rows, or rows the users' own scripts still insert) are filled in here.
Rows whose question was already stored are marked ``key_conflict`` and reported, not removed.

A schema created or migrated is one event (``database.schema``); alembic's own lines are
quiet unless the log level is debug (``daemon.logging``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from sqlalchemy import Connection, false, inspect, select, text, true, update

from daemon.logging import get_logger
from daemon.store.engine import Database, while_sqlite_locked
from daemon.store.locks import lock_key
from daemon.store.models import Base, QAPairRow
from daemon.store.revisions import MIGRATIONS_DIR, VERSION_TABLE, script_head
from handlers.text import question_key

if TYPE_CHECKING:
    import sqlite3

    from alembic.config import Config

log = get_logger("inboxd.store")

SCHEMA_LOCK = lock_key("schema", "migrate")
SQLITE_MIGRATION_WAIT = 600.0  # an adoption of a large database may take minutes


def _alembic_config() -> Config:
    from alembic.config import Config  # alembic only where a migration may run: slow import

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The head as alembic computes it from the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def at_head(db: Database) -> bool:
    """True when the stored revision is the scripts' head: nothing to migrate.

    Lets a start on a database already at head read one row instead of importing alembic
    (a slow import). Read without the schema lock: a database another host is migrating
    shows its old revision until that commits, and takes the slow path.
    """
    head = script_head()
    if head is None:
        return False
    with db.engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return False
        stored = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    return [row[0] for row in stored] == [head]


def upgrade(db: Database) -> None:
    """Run every migration not yet applied (idempotent; cheap when already at head).

    An empty database is created from the models and stamped at head instead, as alembic's
    cookbook advises: the same schema (a test compares the two paths on both backends)
    without importing alembic and replaying every step.
    """
    if at_head(db):
        return
    with db.engine.begin() as connection:
        _one_at_a_time(connection)
        created = _create_if_empty(connection)
        if not created:
            run_migrations(connection)
    database = db.engine.url.render_as_string(hide_password=True)
    action = "created" if created else "brought to head"
    log.info("database.schema", action=action, revision=script_head(), database=database)


def run_migrations(connection: Connection) -> None:
    """Alembic's upgrade to head on this connection, inside its transaction."""
    from alembic import command

    config = _alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _create_if_empty(connection: Connection) -> bool:
    """Create the schema at head when the database has no table at all; False otherwise
    (a legacy database to adopt, an older inboxd schema, or scripts alembic must read)."""
    head = script_head()
    if head is None or inspect(connection).get_table_names():
        return False
    Base.metadata.create_all(connection)
    connection.execute(
        text(
            f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL,"
            f" CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
        )
    )
    connection.execute(
        text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:head)"), {"head": head}
    )
    return True


def _one_at_a_time(connection: Connection) -> None:
    """Daemons starting together migrate one after another, so the next finds the schema at
    head (two at once on a fresh file both ran CREATE TABLE, and one died).

    PostgreSQL: an advisory lock until this transaction ends (DDL is transactional there),
    waited for as long as it takes, whatever ``lock_timeout``. SQLite: the database's write
    lock, taken now (Python's sqlite3 runs DDL outside any transaction unless one is open),
    waited for up to ``SQLITE_MIGRATION_WAIT`` seconds.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL lock_timeout = 0"))
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
    elif connection.dialect.name == "sqlite":
        driver = cast("sqlite3.Connection", connection.connection.driver_connection)
        if not driver.in_transaction:
            # each attempt itself waits out the busy timeout first
            while_sqlite_locked(SQLITE_MIGRATION_WAIT)(
                connection.exec_driver_sql, "BEGIN IMMEDIATE"
            )


@dataclass
class KeyBackfill:
    """What filling in question keys found."""

    keyed: int = 0
    duplicates: list[tuple[int, int, str]] = field(default_factory=list)  # (qa_id, of, question)


def backfill_question_keys(db: Database) -> KeyBackfill:
    """Key every pair that has no key yet; mark (and report) the ones already stored."""
    result = KeyBackfill()
    with db.transaction() as db_session:
        _one_at_a_time(db_session.connection())
        rows = db_session.execute(
            select(QAPairRow.qa_id, QAPairRow.question)
            .where(QAPairRow.question_key.is_(None))
            .order_by(QAPairRow.qa_id)
        ).all()
        if not rows:
            return result
        keys = {qa_id: question_key(question) for qa_id, question in rows}
        owners: dict[str | None, int] = dict(
            db_session.execute(
                select(QAPairRow.question_key, QAPairRow.qa_id).where(
                    QAPairRow.question_key.in_(set(keys.values())),
                    QAPairRow.key_conflict == false(),
                )
            ).all()
        )
        for qa_id, question in rows:
            key = keys[qa_id]
            owner = owners.get(key)
            if owner is not None:
                result.duplicates.append((qa_id, owner, question))
            else:
                owners[key] = qa_id
            db_session.execute(
                update(QAPairRow)
                .where(QAPairRow.qa_id == qa_id)
                .values(question_key=key, key_conflict=owner is not None)
            )
            result.keyed += 1
    return result


def known_duplicates(db: Database) -> list[tuple[int, str]]:
    """Pairs marked as duplicates of an earlier stored question: (qa_id, question)."""
    with db.reader() as db_session:
        return [
            (qa_id, question)
            for qa_id, question in db_session.execute(
                select(QAPairRow.qa_id, QAPairRow.question)
                .where(QAPairRow.key_conflict == true())
                .order_by(QAPairRow.qa_id)
            ).all()
        ]
