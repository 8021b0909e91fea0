"""PostgreSQL fixtures: the root's settings on a fresh database, and helpers to watch it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from daemon.config import Settings
from daemon.ingest.oneshot import prepare
from daemon.store.engine import Database
from tests.support import Run, cli_runner


@pytest.fixture
def settings(root: Path, postgres_url: str) -> Settings:
    return Settings(root=root, settle_seconds=0.2, rescan_seconds=3600, database_url=postgres_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.url)
    prepare(settings, database)
    yield database
    database.dispose()


def sessions_waiting_on_a_lock(db: Database) -> int:
    """Other backends of this database blocked on a lock (row, unique key or advisory)."""
    with db.engine.connect() as connection:
        return (
            connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                    "AND pid <> pg_backend_pid()"
                )
            )
            or 0
        )


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """``cli(*args)`` in-process: (exit code, its output without the JSON log lines)."""

    with cli_runner(capsys) as invoke:
        yield invoke
