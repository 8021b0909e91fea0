"""``inboxd doctor`` finds each broken precondition and says how to fix it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from daemon.cli import doctor
from daemon.cli.app import EXIT_FATAL, EXIT_OK, cli
from daemon.cli.doctor import Finding, run_checks
from daemon.config import Settings
from daemon.store import migrate
from daemon.store.engine import Database
from daemon.store.models import QUESTION_KEY_INDEX
from daemon.store.revisions import MIGRATIONS_DIR
from tests.support import read_only_file


@pytest.fixture
def watches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /proc/sys/fs/inotify/max_user_watches with a generous limit."""
    path = tmp_path / "max_user_watches"
    path.write_text("524288\n")
    monkeypatch.setattr(doctor, "INOTIFY_MAX_USER_WATCHES", path)
    return path


def _by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def _checks(
    settings: Settings, watches: Path, *, free: int = 0, deep: bool = False
) -> dict[str, Finding]:
    return _by_check(run_checks(settings, watches_path=watches, min_free_bytes=free, deep=deep))


def _doctor(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli("doctor", "--root", str(root), *args)
    return code, capsys.readouterr().out


def _sqlite(settings: Settings, *statements: str) -> None:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(settings.var_dir / "inboxd.db") as connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()


def test_a_prepared_root_passes_every_check(
    settings: Settings, db: Database, watches: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert {c: f.status for c, f in _checks(settings, watches).items()} == {
        "root": "ok",
        "folders": "ok",
        "database": "ok",
        "migrations": "ok",
        "writable": "ok",
        "inotify": "ok",
        "disk": "ok",
    }
    code, out = _doctor(capsys, settings.root, "--min-free-gb", "0")
    assert code == EXIT_OK
    assert "FAIL" not in out and "fix:" not in out
    assert out.count("OK ") == 7


def test_a_root_that_is_a_file_fails_with_advice(
    tmp_path: Path, watches: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_folder = tmp_path / "tree"
    not_a_folder.write_text("oops")
    code, out = _doctor(capsys, not_a_folder)
    assert code == EXIT_FATAL
    assert f"FAIL  root        {not_a_folder} is not a directory" in out
    assert "fix: set --root / INBOXD_ROOT to a directory" in out


def test_a_root_with_a_missing_parent_fails_and_is_not_created(
    tmp_path: Path, watches: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "gone" / "tree"
    code, out = _doctor(capsys, root)
    assert code == EXIT_FATAL
    assert f"{root} does not exist (its parent {tmp_path / 'gone'} is missing too)" in out
    assert f"fix: `inboxd init --root {root}` creates it" in out
    assert not (tmp_path / "gone").exists()  # the doctor looks, it does not create


def test_a_var_folder_nothing_can_be_created_in_fails(settings: Settings, watches: Path) -> None:
    """Checked by creating a file, not by permission bits (which root ignores)."""
    settings.var_dir.write_text("a file where the database folder should be")
    root = _checks(settings, watches)["root"]
    assert root.status == "fail"
    assert root.detail.startswith(f"cannot create files in {settings.var_dir}: ")
    assert "ReadWritePaths=" in (root.advice or "")


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes through permission bits; see the var/ and file cases"
)
def test_a_read_only_root_fails(settings: Settings, watches: Path) -> None:
    settings.root_path.chmod(0o555)
    try:
        assert _checks(settings, watches)["root"].status == "fail"
    finally:
        settings.root_path.chmod(0o755)


def test_a_missing_database_fails_without_creating_it(settings: Settings, watches: Path) -> None:
    findings = _checks(settings, watches)
    assert findings["database"].status == "fail"
    assert findings["database"].detail == f"no database at {settings.var_dir / 'inboxd.db'}"
    assert findings["migrations"].status == "skip"
    assert not (settings.var_dir / "inboxd.db").exists()


def test_a_database_without_migrations_fails_with_advice(
    settings: Settings, watches: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sqlite(settings, "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    code, out = _doctor(capsys, settings.root)
    assert code == EXIT_FATAL
    assert "OK    database" in out
    assert "FAIL  migrations  no alembic version: the schema was never created" in out
    assert (
        f"fix: `inboxd init --root {settings.root_path} --database URL` runs the migrations" in out
    )


def test_a_legacy_database_is_recognised(settings: Settings, watches: Path) -> None:
    _sqlite(settings, "CREATE TABLE qa_pairs (qa_id INTEGER PRIMARY KEY, question TEXT)")
    finding = _checks(settings, watches)["migrations"]
    assert (finding.status, finding.detail) == (
        "fail",
        "tables of a legacy database but no alembic version",
    )
    assert "adopted in place" in (finding.advice or "")


def test_a_database_behind_head_fails(settings: Settings, watches: Path) -> None:
    settings.var_dir.mkdir(parents=True)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    database = Database(settings.url)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    database.dispose()
    finding = _checks(settings, watches)["migrations"]
    assert (finding.status, finding.detail) == (
        "fail",
        f"schema at 0001, head is {migrate.head_revision()}",
    )


def test_a_database_from_a_newer_inboxd_fails(settings: Settings, watches: Path) -> None:
    _sqlite(
        settings,
        "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('9999')",
    )
    finding = _checks(settings, watches)["migrations"]
    assert finding.status == "fail"
    assert "unknown to this inboxd" in finding.detail


def test_a_file_that_is_not_a_database_fails(settings: Settings, watches: Path) -> None:
    settings.var_dir.mkdir(parents=True)
    (settings.var_dir / "inboxd.db").write_bytes(b"not sqlite at all" * 100)
    findings = _checks(settings, watches)
    assert findings["database"].status == "fail"
    assert "DatabaseError" in findings["database"].detail
    assert findings["migrations"].status == "skip"


def test_a_low_watch_limit_fails_with_the_sysctl_to_raise_it(
    settings: Settings, db: Database, watches: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(5):
        (settings.root_path / "outbox" / "droid" / f"session_{n:02}").mkdir()
    folders = doctor.watched_folders(settings)
    assert folders == 2 + 6 + 5  # inbox/, outbox/, an agent folder each, the sessions
    watches.write_text(f"{folders - 1}\n")
    code, out = _doctor(capsys, settings.root)
    assert code == EXIT_FATAL
    assert f"FAIL  inotify     {folders} folders to watch, max_user_watches is {folders - 1}" in out
    assert "fix: sudo sysctl fs.inotify.max_user_watches=524288" in out


def test_a_watch_limit_nearly_used_up_warns(settings: Settings, watches: Path) -> None:
    watches.write_text(f"{doctor.watched_folders(settings) + 1}\n")
    assert _checks(settings, watches)["inotify"].status == "warn"


def test_polling_needs_no_watches(settings: Settings, watches: Path) -> None:
    watches.write_text("1\n")
    finding = _checks(settings.model_copy(update={"polling": True}), watches)["inotify"]
    assert finding.status == "ok"


def test_low_disk_warns_without_failing(
    settings: Settings, db: Database, watches: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _doctor(capsys, settings.root, "--min-free-gb", "1e9")
    assert code == EXIT_OK
    assert "WARN  disk" in out and "(under " in out
    assert "fix: free some space" in out


def test_missing_and_unknown_agent_folders_warn(
    settings: Settings, db: Database, watches: Path
) -> None:
    (settings.root_path / "inbox" / "gemini").rmdir()
    (settings.root_path / "outbox" / "copilot").mkdir()
    finding = _checks(settings, watches)["folders"]
    assert finding.status == "warn"
    assert finding.detail == (
        "missing inbox/gemini; folders for agents not configured: outbox/copilot"
    )


# -- issue 14, point 3: a database that answers but cannot be written ----------------------


def test_a_read_only_database_fails_the_writable_check(
    settings: Settings, db: Database, watches: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.dispose()
    with read_only_file(settings.var_dir / "inboxd.db"):
        findings = _checks(settings, watches)
        code, out = _doctor(capsys, settings.root)
    assert findings["database"].status == "ok"  # it answers a read
    writable = findings["writable"]
    assert writable.status == "fail"
    assert "attempt to write a readonly database" in writable.detail
    assert "lsattr" in (writable.advice or "")
    assert code == EXIT_FATAL
    assert "FAIL  writable" in out
    assert _checks(settings, watches)["writable"].status == "ok"  # and writable again
    assert not list(settings.var_dir.glob("*probe*"))


def test_the_write_probe_leaves_nothing_behind(
    settings: Settings, db: Database, watches: Path
) -> None:
    assert _checks(settings, watches)["writable"].status == "ok"
    assert migrate.current_revision(db) == migrate.head_revision()
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1


def test_deep_checks_pass_on_a_sound_database(
    settings: Settings, db: Database, watches: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    findings = _checks(settings, watches, deep=True)
    assert findings["integrity"].status == "ok", findings["integrity"]
    assert findings["constraints"].status == "ok", findings["constraints"]
    assert "integrity" not in _checks(settings, watches)  # only with --deep
    code, out = _doctor(capsys, settings.root, "--deep", "--min-free-gb", "0")
    assert code == EXIT_OK
    assert "OK    integrity" in out and "OK    constraints" in out


def test_deep_finds_an_index_that_does_not_match_its_table(
    settings: Settings, db: Database, watches: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An index whose entries disagree with its table: what a torn page looks like to SQLite."""
    db.dispose()
    _sqlite(
        settings,
        "INSERT INTO crypto_indicators (indicator_name) VALUES ('SMA'), ('EMA'), ('RSI')",
        "CREATE INDEX ix_probe ON crypto_indicators (indicator_name)",
        "PRAGMA writable_schema = ON",
        "UPDATE sqlite_schema SET sql = 'CREATE INDEX ix_probe ON crypto_indicators "
        "(indicator_category)' WHERE name = 'ix_probe'",
    )
    finding = _checks(settings, watches, deep=True)["integrity"]
    assert finding.status == "fail"
    assert "ix_probe" in finding.detail
    assert "inboxd restore" in (finding.advice or "")
    code, out = _doctor(capsys, settings.root, "--deep")
    assert code == EXIT_FATAL and "FAIL  integrity" in out


def test_deep_warns_of_rows_pointing_at_rows_that_do_not_exist(
    settings: Settings, db: Database, watches: Path
) -> None:
    db.dispose()
    _sqlite(
        settings,
        "PRAGMA foreign_keys = OFF",
        "INSERT INTO qa_pairs (indicator_id, question, answer, key_conflict) "
        "VALUES (999, 'q?', 'a.', 0)",
    )
    finding = _checks(settings, watches, deep=True)["integrity"]
    assert finding.status == "warn"
    assert finding.detail == (
        "integrity_check ok; 1 row referring to a missing row: qa_pairs -> crypto_indicators"
    )


def test_deep_fails_without_the_question_key_index(
    settings: Settings, db: Database, watches: Path
) -> None:
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f"DROP INDEX {QUESTION_KEY_INDEX}")
    finding = _checks(settings, watches, deep=True)["constraints"]
    assert finding.status == "fail"
    assert f"qa_pairs: unique index {QUESTION_KEY_INDEX} missing" in finding.detail
    assert "stored twice" in (finding.advice or "")


def test_deep_on_postgresql_checks_the_constraints_inboxd_relies_on(
    postgres_url: str, root: Path, watches: Path
) -> None:
    settings = Settings(root=root, database_url=postgres_url)
    database = Database(settings.url)
    try:
        migrate.upgrade(database)
        findings = _checks(settings, watches, deep=True)
        assert findings["writable"].status == "ok"
        assert findings["integrity"].status == "skip"  # no engine-level check to run there
        assert findings["constraints"].status == "ok", findings["constraints"]
        with database.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE files DROP CONSTRAINT uq_files_path_content")
        finding = _checks(settings, watches, deep=True)["constraints"]
    finally:
        database.dispose()
    assert finding.status == "fail"
    assert "files: unique constraint uq_files_path_content missing" in finding.detail
