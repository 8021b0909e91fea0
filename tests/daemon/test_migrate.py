"""``inboxd init``: a fresh database with the models' schema, or a legacy one adopted in place."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from daemon.store import migrate
from daemon.store.engine import Database
from daemon.store.models import Base
from daemon.store.revisions import script_head
from handlers.text import question_key
from tests.support import SAMPLES, Run, assert_created_as_migrated, cli_runner

REPO = Path(__file__).resolve().parents[2]

LEGACY_QA_COLUMNS = (
    "qa_id, indicator_id, indicator_name, pair_number, question, answer, difficulty_level, "
    "answer_length, has_formula, has_examples, has_sources, crypto_specific, created_date"
)
LEGACY_INDICATOR_COLUMNS = (
    "id, indicator_name, indicator_category, session_number, description, created_at, updated_at"
)
DUPLICATE_QUESTION = "why do funding rates spike in bull markets?"
SMA_FILE = "outbox/droid/session_02/sma_qa_pairs.json"

Adopt = Callable[[], tuple[int, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """``cli(*args)`` in-process: (exit code, its output without the JSON log lines)."""

    with cli_runner(capsys) as invoke:
        yield invoke


@pytest.fixture
def legacy_db(tmp_path: Path) -> Path:
    """The users' production database, as their own scripts built it."""
    path = tmp_path / "crypto_indicators_production.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript((REPO / "tests/files/legacy_production.sql").read_text())
        connection.commit()
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def adopt(run: Run, root: Path, legacy_db: Path) -> Adopt:
    return lambda: run("init", "--root", str(root), "--database", f"sqlite:///{legacy_db}")


def _query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql).fetchall()


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table."""
    tables = [
        name
        for (name,) in _query(
            path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
    ]
    # sorted in Python: rows in a stable order whatever the table's keys
    return {table: sorted(_query(path, f'SELECT * FROM "{table}"'), key=repr) for table in tables}


# -- adoption ------------------------------------------------------------------------------


def test_adoption_keeps_every_legacy_pair_value_unchanged(adopt: Adopt, legacy_db: Path) -> None:
    before = _query(legacy_db, f"SELECT {LEGACY_QA_COLUMNS} FROM qa_pairs ORDER BY qa_id")
    assert len(before) == 4
    code, _ = adopt()
    assert code == 0
    assert _query(legacy_db, f"SELECT {LEGACY_QA_COLUMNS} FROM qa_pairs ORDER BY qa_id") == before


def test_adoption_keeps_every_legacy_indicator_value_unchanged(
    adopt: Adopt, legacy_db: Path
) -> None:
    sql = f"SELECT {LEGACY_INDICATOR_COLUMNS} FROM crypto_indicators ORDER BY id"
    before = _query(legacy_db, sql)
    adopt()
    assert _query(legacy_db, sql) == before


def test_adoption_fills_the_question_key_of_every_legacy_pair(
    adopt: Adopt, legacy_db: Path
) -> None:
    adopt()
    rows = _query(legacy_db, "SELECT question, question_key FROM qa_pairs ORDER BY qa_id")
    assert len(rows) == 4
    assert [key for _, key in rows] == [question_key(question) for question, _ in rows]


def test_adoption_marks_the_existing_duplicate_as_key_conflict(
    adopt: Adopt, legacy_db: Path
) -> None:
    adopt()
    rows = _query(legacy_db, "SELECT qa_id, key_conflict FROM qa_pairs ORDER BY qa_id")
    assert rows == [(1, 0), (2, 0), (3, 1), (4, 0)]
    (same_key,) = _query(
        legacy_db, "SELECT COUNT(DISTINCT question_key) FROM qa_pairs WHERE qa_id IN (2, 3)"
    )
    assert same_key == (1,)


def test_adoption_reports_the_existing_duplicate(adopt: Adopt) -> None:
    _, out = adopt()
    assert "question keys filled in: 4" in out
    assert "duplicate questions already in the database (kept, marked): 1" in out
    assert f"qa_id 3: {DUPLICATE_QUESTION}" in out


def test_second_init_changes_nothing(adopt: Adopt, legacy_db: Path) -> None:
    adopt()
    before = _dump(legacy_db)
    code, out = adopt()
    assert code == 0
    assert _dump(legacy_db) == before
    assert "question keys filled in: 0" in out
    assert "duplicate questions already in the database (kept, marked): 1" in out


def test_sma_file_after_adoption_counts_the_legacy_sma_question_as_duplicate(
    adopt: Adopt, run: Run, root: Path, legacy_db: Path
) -> None:
    adopt()
    target = root / SMA_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLES / SMA_FILE, target)
    code, out = run(
        "process", str(target), "--root", str(root), "--database", f"sqlite:///{legacy_db}"
    )
    assert code == 0
    assert "stored 3  duplicates 2" in out
    assert _query(legacy_db, "SELECT COUNT(*) FROM qa_pairs") == [(7,)]


def test_sma_pair_numbers_continue_after_the_legacy_pair(
    adopt: Adopt, run: Run, root: Path, legacy_db: Path
) -> None:
    adopt()
    target = root / SMA_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLES / SMA_FILE, target)
    run("process", str(target), "--root", str(root), "--database", f"sqlite:///{legacy_db}")
    sma = _query(
        legacy_db,
        "SELECT qa_id, indicator_id, pair_number FROM qa_pairs "
        "WHERE indicator_name = 'SMA' ORDER BY qa_id",
    )
    assert sma == [(4, 2, 1), (5, 2, 2), (6, 2, 3), (7, 2, 4)]
    assert _query(
        legacy_db, "SELECT COUNT(*) FROM crypto_indicators WHERE indicator_name = 'SMA'"
    ) == [(1,)]


# -- a fresh database ----------------------------------------------------------------------


def _migrated_by_alembic(path: Path) -> Database:
    """A fresh database brought to head by replaying every migration (what an older
    inboxd's database goes through), not created from the models."""
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as connection:
        migrate.run_migrations(connection)
    return db


def test_the_migrations_give_the_models_schema(tmp_path: Path) -> None:
    db = _migrated_by_alembic(tmp_path / "migrated.db")
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        db.dispose()


def test_a_new_database_has_the_schema_the_migrations_give(run: Run, root: Path) -> None:
    """``init`` creates an empty database from the models and stamps it: every table,
    column, type, default, key, index (partial ones with their condition) and the stamp
    must be what replaying the migrations gives."""
    code, _ = run("init", "--root", str(root))
    assert code == 0
    assert_created_as_migrated(
        Database(f"sqlite:///{root / 'var' / 'inboxd.db'}"),
        _migrated_by_alembic(root / "var" / "migrated.db"),
    )


def test_init_creates_the_tree_for_every_agent(run: Run, root: Path) -> None:
    run("init", "--root", str(root))
    for box in ("inbox", "outbox"):
        for agent in ("droid", "claude", "gemini"):
            assert (root / box / agent).is_dir(), f"{box}/{agent}"
    assert (root / "var" / "inboxd.db").is_file()
    assert (root / "var" / "archive").is_dir()


# -- a start on a database already at head -------------------------------------------------


def test_the_scripts_head_read_as_text_is_alembics_head() -> None:
    """``upgrade`` trusts ``script_head`` to skip alembic: it must name alembic's head."""
    assert script_head() == migrate.head_revision()


def test_alembic_is_imported_only_for_a_database_to_migrate(
    run: Run, root: Path, legacy_db: Path
) -> None:
    """A restart pays for one SELECT and a new database for creating its tables, not for
    alembic's import; a database with tables but no stamp (legacy, to adopt) runs alembic."""
    assert run("init", "--root", str(root))[0] == 0

    def upgrade_imports_alembic(database: Path) -> bool:
        probe = (
            "import sys\n"
            "from daemon.store import migrate\n"
            "from daemon.store.engine import Database\n"
            f"migrate.upgrade(Database({f'sqlite:///{database}'!r}))\n"
            "print('alembic' in sys.modules)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
        )
        return done.stdout.splitlines()[-1] == "True"  # after the database.schema event, if any

    assert not upgrade_imports_alembic(root / "var" / "inboxd.db")
    fresh = root / "var" / "fresh.db"
    assert not upgrade_imports_alembic(fresh)
    assert _query(fresh, "SELECT version_num FROM alembic_version") == [(migrate.head_revision(),)]
    assert upgrade_imports_alembic(legacy_db)
    assert _query(legacy_db, "SELECT version_num FROM alembic_version") == [
        (migrate.head_revision(),)
    ]
    assert not upgrade_imports_alembic(legacy_db)


def test_two_inits_at_once_on_a_fresh_sqlite_file_both_succeed(tmp_path: Path) -> None:
    """Two daemons starting together on a new database file: one migrates, the other waits
    and finds the schema at head (Python's sqlite3 runs DDL outside any transaction, so both
    used to run CREATE TABLE and one died with "table files already exists", 7 times in 20)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXD_")}
    init = "import sys; from daemon.cli.app import main; sys.argv[0] = 'inboxd'; main()"
    for attempt in range(6):
        root = tmp_path / f"root-{attempt}"
        both = [
            subprocess.Popen(
                [sys.executable, "-c", init, "init", "--root", str(root)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=REPO,
                env=env,
            )
            for _ in range(2)
        ]
        outputs = [process.communicate(timeout=120)[0] for process in both]
        assert [process.returncode for process in both] == [0, 0], outputs
        assert migrate.at_head(Database(f"sqlite:///{root / 'var' / 'inboxd.db'}"))
