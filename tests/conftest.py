"""Shared fixtures: a temporary root, its settings and database, a daemon factory."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Settings
from daemon.ingest.oneshot import prepare
from daemon.live.service import Daemon
from daemon.logging import configure_logging
from daemon.store.engine import Database
from tests.support import wait_for

AGENTS = ("droid", "claude", "gemini")
# The PostgreSQL server the tests create their databases on (.ci/run starts one there);
# PG_TEST_SERVER overrides it (a libpq URL whose database is the maintenance one).
PG_SERVER = os.environ.get("PG_TEST_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test depends on the INBOXD_* variables of the shell that runs it."""
    for name in list(os.environ):
        if name.startswith("INBOXD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for box in ("inbox", "outbox"):
        for agent in AGENTS:
            (tmp_path / box / agent).mkdir(parents=True)
    return tmp_path


@pytest.fixture
def settings(root: Path) -> Settings:
    return Settings(root=root, settle_seconds=0.2, rescan_seconds=3600)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.url)
    prepare(settings, database)
    yield database
    database.dispose()


@pytest.fixture
def json_logs(settings: Settings) -> Iterator[Path]:
    """Log to the root's JSON log file (and stdout as JSON) for tests that read events."""
    configure_logging(settings.log_file, console=False)
    yield settings.log_file
    configure_logging(None, console=False)


@pytest.fixture
def start_daemon(settings: Settings) -> Iterator[Callable[..., Daemon]]:
    """Start daemons on the test root; every one is stopped at teardown."""
    started: list[Daemon] = []

    def factory(**overrides: Any) -> Daemon:
        daemon = Daemon(settings.model_copy(update=overrides) if overrides else settings)
        daemon.start()
        started.append(daemon)
        wait_for(daemon.ready.is_set, what="the catch-up scan to finish")
        return daemon

    yield factory
    for daemon in started:
        daemon.stop(timeout=10)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server's maintenance URL; every PostgreSQL test is SKIPPED, saying why, without it."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        pytest.skip(f"PostgreSQL tests skipped: psycopg is not installed ({exc})")
    try:
        with psycopg.connect(PG_SERVER, connect_timeout=3, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        why = " ".join(str(exc).split())
        pytest.skip(
            f"PostgreSQL tests skipped: no server answers at {PG_SERVER} ({why}); "
            ".ci/run starts one"
        )
    return PG_SERVER


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for this test (SQLAlchemy URL), dropped at teardown."""
    yield from fresh_postgres_database(postgres_server)


def fresh_postgres_database(server: str) -> Iterator[str]:
    """CREATE DATABASE inboxd_test_<uuid>; yield its URL; DROP ... WITH (FORCE)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"inboxd_test_{uuid.uuid4().hex}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(server).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
