"""Every command on PostgreSQL: init (fresh, adopted, several at once), scan, process,
status, retry and report, with ``--database postgresql+psycopg://...``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from daemon.store import migrate
from daemon.store.engine import Database
from daemon.store.models import Base, QAPairRow
from handlers.text import question_key
from tests.conftest import fresh_postgres_database
from tests.support import SAMPLES, Run, assert_created_as_migrated, deliver, sample_files

LEGACY_SQL = Path(__file__).parent / "legacy_production_postgres.sql"
LEGACY_QA_COLUMNS = (
    "qa_id, indicator_id, indicator_name, pair_number, question, answer, difficulty_level, "
    "answer_length, has_formula, has_examples, has_sources, crypto_specific, created_date"
)
SMA_FILE = "outbox/droid/session_02/sma_qa_pairs.json"
INBOXD = Path(sys.executable).parent / "inboxd"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(_libpq(url)) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture
def legacy_url(postgres_url: str) -> Iterator[str]:
    """The users' production database as it would be on PostgreSQL (the SQLite script,
    translated: SERIAL for AUTOINCREMENT, true/false for 1/0)."""
    with psycopg.connect(_libpq(postgres_url), autocommit=True) as connection:
        connection.execute(LEGACY_SQL.read_text())
    yield postgres_url


def test_init_creates_a_schema_identical_to_the_models(
    run: Run, root: Path, postgres_url: str
) -> None:
    code, out = run("init", "--root", str(root), "--database", postgres_url)
    assert code == 0, out
    assert f"schema: none -> {migrate.head_revision()}" in out
    db = Database(postgres_url)
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
            indexes = {i["name"]: i for i in inspect(connection).get_indexes("qa_pairs")}
            unique = indexes["uq_qa_pairs_question_key"]
            assert unique["unique"]
            assert unique["dialect_options"]["postgresql_where"] == "(NOT key_conflict)"
            types: dict[str, str] = dict(
                connection.execute(
                    text(
                        "SELECT table_name || '.' || column_name, data_type"
                        " FROM information_schema.columns"
                        " WHERE column_name IN ('mtime_ns', 'details', 'key_conflict', 'record')"
                    )
                ).all()
            )
    finally:
        db.dispose()
    assert types == {
        "files.mtime_ns": "bigint",
        "files.details": "json",
        "qa_pairs.key_conflict": "boolean",
        "refinement_pending.record": "json",
    }


@pytest.fixture
def second_postgres_url(postgres_server: str) -> Iterator[str]:
    yield from fresh_postgres_database(postgres_server)


def test_a_new_database_has_the_schema_the_migrations_give(
    run: Run, root: Path, postgres_url: str, second_postgres_url: str
) -> None:
    """``init`` creates an empty database from the models and stamps it; replaying every
    migration on another empty database must give the same tables, types, defaults, keys,
    indexes (partial ones with their condition) and stamp, and the models' schema."""
    assert run("init", "--root", str(root), "--database", postgres_url)[0] == 0
    migrated = Database(second_postgres_url)
    with migrated.engine.begin() as connection:
        migrate.run_migrations(connection)
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []
    assert_created_as_migrated(Database(postgres_url), migrated)


def test_init_adopts_a_legacy_postgresql_database_in_place(
    run: Run, root: Path, legacy_url: str
) -> None:
    before = _query(legacy_url, f"SELECT {LEGACY_QA_COLUMNS} FROM qa_pairs ORDER BY qa_id")
    code, out = run("init", "--root", str(root), "--database", legacy_url)
    assert code == 0, out
    assert "question keys filled in: 4" in out
    assert "duplicate questions already in the database (kept, marked): 1" in out
    assert "qa_id 3: why do funding rates spike in bull markets?" in out
    assert _query(legacy_url, f"SELECT {LEGACY_QA_COLUMNS} FROM qa_pairs ORDER BY qa_id") == before
    rows = _query(
        legacy_url,
        "SELECT qa_id, question, question_key, key_conflict FROM qa_pairs ORDER BY qa_id",
    )
    assert [(qa_id, conflict) for qa_id, _, _, conflict in rows] == [
        (1, False),
        (2, False),
        (3, True),
        (4, False),
    ]
    assert all(key == question_key(question) for _, question, key, _ in rows)
    code, out = run("init", "--root", str(root), "--database", legacy_url)
    assert (code, "question keys filled in: 0" in out) == (0, True)


def test_a_file_after_adoption_continues_the_legacy_numbering(
    run: Run, root: Path, legacy_url: str
) -> None:
    run("init", "--root", str(root), "--database", legacy_url)
    target = deliver(root, SMA_FILE)
    code, out = run("process", str(target), "--root", str(root), "--database", legacy_url)
    assert code == 0, out
    assert "stored 3  duplicates 2" in out
    assert _query(
        legacy_url,
        "SELECT qa_id, indicator_id, pair_number FROM qa_pairs "
        "WHERE indicator_name = 'SMA' ORDER BY qa_id",
    ) == [(4, 2, 1), (5, 2, 2), (6, 2, 3), (7, 2, 4)]


def test_daemons_starting_together_migrate_one_after_the_other(
    root: Path, postgres_url: str
) -> None:
    inits = [
        subprocess.Popen(
            [str(INBOXD), "init", "--root", str(root / f"host{i}"), "--database", postgres_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in range(4)
    ]
    outputs = []
    for proc in inits:
        out, _ = proc.communicate(timeout=60)
        outputs.append((proc.returncode, out.decode()))
    assert [code for code, _ in outputs] == [0, 0, 0, 0], outputs
    assert _query(postgres_url, "SELECT version_num FROM alembic_version") == [
        (migrate.head_revision(),)
    ]


def test_scan_status_process_and_report(run: Run, root: Path, postgres_url: str) -> None:
    for rel in sample_files():
        deliver(root, rel)
    code, out = run("scan", "--root", str(root), "--database", postgres_url)
    assert code == 0, out
    assert "imported 14" in out
    code, out = run("status", "--json", "--root", str(root), "--database", postgres_url)
    assert code == 0
    summary = json.loads(out)
    assert summary["pairs"] == 20
    assert summary["agents"]["droid"]["sessions"]["missing"] == [3]
    assert json.loads((root / "inbox/claude/status.json").read_text())["database"]["pairs"] == 20
    again = root / "outbox/droid/again/sma_qa_pairs.json"
    again.parent.mkdir()
    shutil.copyfile(SAMPLES / SMA_FILE, again)
    code, out = run(
        "process", str(again), "--dry-run", "--root", str(root), "--database", postgres_url
    )
    assert (code, out.split()[0]) == (0, "dry-run")
    assert "stored 0  duplicates 5" in out
    code, out = run("report", "gap", "--root", str(root), "--database", postgres_url)
    assert code == 0 and "20" in out
    db = Database(postgres_url)
    try:
        with db.reader() as db_session:
            assert len(db_session.scalars(select(QAPairRow.qa_id)).all()) == 20
    finally:
        db.dispose()


def test_retry_takes_a_rejected_file_once_the_configuration_allows_it(
    run: Run, root: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver(root, SMA_FILE, "outbox/mystery/sma_qa_pairs.json")
    code, out = run("scan", "--root", str(root), "--database", postgres_url)
    assert (code, "rejected 1" in out) == (3, True)
    monkeypatch.setenv("INBOXD_AGENTS", "droid,claude,gemini,mystery")
    code, out = run("retry", "--rejected", "--root", str(root), "--database", postgres_url)
    assert code == 0, out
    assert out.startswith("imported  outbox/mystery/sma_qa_pairs.json")
    assert _query(postgres_url, "SELECT outcome, pairs_stored FROM files") == [("imported", 4)]


def test_status_on_postgresql_reads_the_database(
    run: Run, root: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The status files' quick way is SQLite's (daemon/status/current): on PostgreSQL they
    record nothing to check against, and every status is read from the database."""
    from daemon.cli import views as status_command
    from daemon.status import current, view

    monkeypatch.setattr(current, "now_stamp", lambda: "2026-12-03T12:00:00Z")
    monkeypatch.setattr(view, "now_stamp", lambda: "2026-12-03T12:00:00Z")
    reads: list[list[str]] = []
    from_database = status_command._status_from_database

    def spy(settings: Any, agents: list[str], **options: bool) -> Any:
        reads.append(list(agents))
        return from_database(settings, agents, **options)

    monkeypatch.setattr(status_command, "_status_from_database", spy)
    for rel in sample_files():
        deliver(root, rel)
    assert run("scan", "--root", str(root), "--database", postgres_url)[0] == 0
    assert current.COUNTED_KEY not in json.loads((root / "inbox/droid/status.json").read_text())
    shown = run("status", "--root", str(root), "--database", postgres_url)
    fresh = run("status", "--fresh", "--root", str(root), "--database", postgres_url)
    assert shown == fresh
    assert shown[0] == 0 and "# inboxd status: gemini" in shown[1]
    assert len(reads) == 2
