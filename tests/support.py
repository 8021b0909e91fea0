"""Helpers for tests: waiting on conditions, delivering sample files, running the CLI."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, inspect, select, text

from daemon.cli.app import cli
from daemon.cli.demo import DEMO_FILES
from daemon.config import Settings
from daemon.logging import configure_logging
from daemon.store import migrate
from daemon.store.engine import Database

Run = Callable[..., tuple[int, str]]

SAMPLES = DEMO_FILES  # the set `inboxd demo` writes: one source for the demo and the tests


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def read_status(root: Path, agent: str) -> dict[str, Any]:
    """An agent's ``status.json`` as it is now; {} while missing or mid-replacement."""
    try:
        view = json.loads((root / "inbox" / agent / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return view if isinstance(view, dict) else {}


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object; a missing file or torn write fails the test."""
    value = json.loads(path.read_text("utf-8"))
    assert isinstance(value, dict), f"{path}: not a JSON object"
    return value


def deliver(root: Path, sample_rel: str, dest_rel: str | None = None) -> Path:
    """Copy a sample into the root the recommended way: write a temp name, then rename."""
    source = SAMPLES / sample_rel
    target = root / (dest_rel or sample_rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(source, tmp)
    tmp.rename(target)
    return target


def sample_files(*, exclude: tuple[str, ...] = ()) -> list[str]:
    """Every sample delivery (inbox/ and outbox/), relative to the samples folder."""
    found = []
    for box in ("inbox", "outbox"):
        for path in sorted((SAMPLES / box).rglob("*")):
            rel = path.relative_to(SAMPLES).as_posix()
            if path.is_file() and not any(rel.endswith(e) for e in exclude):
                found.append(rel)
    return found


@contextmanager
def cli_runner(capsys: pytest.CaptureFixture[str], *extra: str) -> Iterator[Run]:
    """``inboxd ARGS EXTRA`` in-process: (exit code, its output without the JSON log lines).

    The CLI configures logging on the root logger; its handlers are closed afterwards so the
    next test starts clean.
    """

    def invoke(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = cli(*args, *extra)
        out = capsys.readouterr().out
        return code, "\n".join(line for line in out.splitlines() if not line.startswith('{"'))

    try:
        yield invoke
    finally:
        reset_logging()


def reset_logging() -> None:
    """Undo ``configure_logging``: no handlers left open, Python's own excepthook back."""
    configure_logging(None, console=False)
    root_logger = logging.getLogger()
    for handler in list(root_logger.handlers):
        root_logger.removeHandler(handler)
        handler.close()
    sys.excepthook = sys.__excepthook__


def reflected_schema(connection: Connection) -> dict[str, dict[str, Any]]:
    """Every table as the database itself describes it (columns, keys, indexes, checks),
    in a form two databases can be compared by: names sorted, column order left out."""
    inspector = inspect(connection)
    schema: dict[str, dict[str, Any]] = {}
    for table in sorted(inspector.get_table_names()):
        schema[table] = {
            "columns": {
                c["name"]: (str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            },
            "primary_key": sorted(inspector.get_pk_constraint(table)["constrained_columns"]),
            "foreign_keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    str(fk.get("options")),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (
                    ix["name"],
                    tuple(ix["column_names"]),
                    bool(ix["unique"]),
                    str(sorted((k, str(v)) for k, v in ix.get("dialect_options", {}).items())),
                )
                for ix in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(str(c.get("sqltext")) for c in inspector.get_check_constraints(table)),
        }
    return schema


def assert_created_as_migrated(created: Database, migrated: Database) -> None:
    """A database created from the models and one brought to head by the migrations hold the
    same schema and the same stamp, at head (both are disposed of)."""
    try:
        with created.engine.connect() as new, migrated.engine.connect() as replayed:
            schemas = [reflected_schema(new), reflected_schema(replayed)]
            stamps = [
                c.execute(text("SELECT version_num FROM alembic_version")).all()
                for c in (new, replayed)
            ]
    finally:
        created.dispose()
        migrated.dispose()
    assert "qa_pairs" in schemas[0] and "alembic_version" in schemas[0]
    assert schemas[0] == schemas[1]
    assert stamps[0] == stamps[1] == [(migrate.head_revision(),)]


@contextmanager
def read_only_file(path: Path) -> Iterator[Callable[[], None]]:
    """Make ``path`` read-only even for root (the immutable attribute, ``chattr +i``); yields
    a callable that makes it writable again (also done on exit).

    The tests run as root, who writes through permission bits; SQLite opens an immutable
    file read-only and says "attempt to write a readonly database". Skips, saying why,
    where the attribute cannot be set (not root, no CAP_LINUX_IMMUTABLE, a filesystem
    without it).
    """

    def chattr(flag: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True)

    tried = chattr("+i")
    if tried.returncode != 0:
        pytest.skip(f"cannot make a file read-only for this user: chattr +i: {tried.stderr}")

    def writable() -> None:
        assert chattr("-i").returncode == 0, f"chattr -i {path} failed"

    try:
        yield writable
    finally:
        chattr("-i")


# -- the installed console script, in a process of its own ------------------------------------
INBOXD = Path(sys.executable).with_name("inboxd")


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


def console(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Done:
    """The console script in a process of its own; output read by communicate()."""
    if not INBOXD.exists():
        pytest.skip("the inboxd console script is not installed beside this interpreter")
    return _own_process([str(INBOXD), *args], cwd=cwd, env=env)


def console_probe(probe: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> Done:
    """``python -c PROBE ARGS``: a script that looks at the console script's entry as it runs
    (``probe`` runs ``daemon.console.main`` itself)."""
    return _own_process([sys.executable, "-c", probe, *args], cwd=cwd, env=env)


def _own_process(argv: list[str], *, cwd: Path, env: dict[str, str] | None) -> Done:
    """Run to its end with no INBOXD_* from the caller's shell but ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("INBOXD_")}
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**base, **(env or {})},
        check=False,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def assert_one_error_line(done: Done, code: int, message: str) -> None:
    """Exit code, exactly one line on stderr, that line holding ``message``, no traceback."""
    shown = f"exit {done.code}\nstdout: {done.out[-2000:]}\nstderr: {done.err[-3000:]}"
    assert "Traceback" not in done.err + done.out, shown
    assert "process.crashed" not in done.out, shown
    lines = done.err.splitlines()
    assert len(lines) == 1, f"expected ONE line on stderr\n{shown}"
    assert lines[0].startswith("error: "), shown
    assert message in lines[0], f"expected {message!r}\n{shown}"
    assert done.code == code, shown


def count_rows(settings: Settings, table: Any) -> int:
    """``SELECT count(*)`` of a table, as the root's database has it now (its own engine)."""
    db = Database(settings.url)
    try:
        with db.reader() as db_session:
            return db_session.scalar(select(func.count()).select_from(table)) or 0
    finally:
        db.dispose()
