"""A quick command line: a command imports only what it uses, and its start is not collected.

Issue 16; the figures are in docs/performance.md, "Command-line start".

Each case runs the console script's own entry (``daemon.console.main``) in a process of its
own and records ``sys.modules`` as the process leaves (``main`` runs the atexit handlers before
its ``os._exit``). The help needs typer and rich only: neither the settings (pydantic), the
database (SQLAlchemy), the log (structlog) nor any part of the pipeline, the daemon or the
datasets. ``status`` on current status files needs the settings and sqlite3, not SQLAlchemy,
the log or the status view (``daemon/status/current``); reading the database, it needs the
status view, and not the migrations' alembic, the watcher, the pipeline or the dataset
writers.

The imports a command makes are no garbage: ``daemon.console`` keeps the cyclic collector away
until ``START_OBJECTS`` objects are made, then it runs at its usual thresholds; the daemon ends
that wait itself once it is running, freezing what its start made.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon import console
from daemon.cli import app as cli_app
from daemon.cli.app import EXIT_OK
from tests.support import Run

# Records the modules loaded when the command is done, then runs it as the console script does.
PROBE = """
import atexit, json, sys
record, sys.argv = sys.argv[1], ["inboxd", *sys.argv[2:]]
atexit.register(lambda: open(record, "w").write(json.dumps(sorted(sys.modules))))
from daemon.console import main
main()
"""

# the dashboard's libraries: only `run --http` and `serve` import them
WEB = ("starlette", "uvicorn", "jinja2", "prometheus_client", "daemon.web")
HELP_MUST_NOT_IMPORT = (
    "sqlalchemy",
    "pydantic",
    "pydantic_settings",
    "structlog",
    "tenacity",
    "alembic",
    "watchdog",
    "pyarrow",
    "duckdb",
    "apprise",
    "handlers",
    "daemon.config",
    "daemon.logging",
    "daemon.store",
    "daemon.ingest",
    "daemon.live",
    "daemon.dataset",
    "daemon.status.view",
    "daemon.status.writer",
    *WEB,
)
STATUS_MUST_NOT_IMPORT = (
    "alembic",
    "apprise",  # only a daemon with notify_urls set
    "watchdog",
    "pyarrow",
    "duckdb",
    "rich.progress",
    "daemon.live",
    "daemon.ingest.pipeline",
    "daemon.ingest.oneshot",
    "daemon.dataset.snapshot",
    "daemon.store.backup",
    "daemon.status.writer",
    *WEB,
)
CURRENT_STATUS_MUST_NOT_IMPORT = (
    "sqlalchemy",
    "structlog",
    "handlers",
    "daemon.logging",
    "daemon.store.engine",
    "daemon.store.models",
    "daemon.ingest",
    "daemon.status.view",
    "daemon.status.tally",
)


def modules_after(args: list[str], cwd: Path) -> tuple[int, str, set[str]]:
    """Run ``inboxd ARGS``: its exit code, its output, and every module it had loaded."""
    record = cwd / "modules.json"
    output = cwd / "output.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXD_")}
    with output.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-c", PROBE, str(record), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            timeout=120,
            check=False,
        )
    return done.returncode, output.read_text(), set(json.loads(record.read_text()))


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The ``packages`` (or any module inside one) among ``modules``."""
    return sorted(p for p in packages if any(m == p or m.startswith(f"{p}.") for m in modules))


@pytest.mark.parametrize(
    "args",
    [["--help"], ["dataset", "--help"], ["status", "--help"], ["process", "--help"]],
    ids=" ".join,
)
def test_the_help_imports_nothing_the_commands_use(args: list[str], tmp_path: Path) -> None:
    code, out, modules = modules_after(args, tmp_path)
    assert code == EXIT_OK, out
    assert "Usage: inboxd" in out
    assert "typer" in modules  # the probe saw the command line run
    assert loaded(modules, HELP_MUST_NOT_IMPORT) == []


def test_status_from_the_database_imports_neither_alembic_nor_the_watcher_nor_the_pipeline(
    run: Run, root: Path
) -> None:
    """On the demo tree, scanned: every part of the status view is shown."""
    assert run("demo")[0] == EXIT_OK
    run("scan")
    code, out, modules = modules_after(["status", "--fresh", "--root", str(root)], root)
    assert code == EXIT_OK, out
    assert "# inboxd status: droid" in out
    assert {"sqlalchemy", "daemon.status.view"} <= modules
    assert loaded(modules, STATUS_MUST_NOT_IMPORT) == []


@pytest.mark.parametrize("args", [[], ["--json"], ["--agent", "gemini"]], ids=str)
def test_status_on_current_files_imports_no_sqlalchemy(
    run: Run, root: Path, args: list[str]
) -> None:
    """``scan`` leaves every agent's status current: ``status`` shows the files as they are
    (daemon/status/current), checked with the standard library's sqlite3."""
    assert run("demo")[0] == EXIT_OK
    run("scan")
    code, out, modules = modules_after(["status", *args, "--root", str(root)], root)
    assert code == EXIT_OK, out
    assert "gemini" in out
    assert {"sqlite3", "daemon.status.current"} <= modules
    assert loaded(modules, (*STATUS_MUST_NOT_IMPORT, *CURRENT_STATUS_MUST_NOT_IMPORT)) == []


def test_status_on_files_older_than_the_ledger_reads_the_database(run: Run, root: Path) -> None:
    """A file handled after the last status write: the quick way is not taken."""
    assert run("demo")[0] == EXIT_OK
    run("scan")
    late = root / "outbox" / "droid" / "late_qa_pairs.json"
    late.write_text(json.dumps([{"question": "What does a late cross mean?", "answer": "x"}]))
    assert run("process", str(late))[0] == EXIT_OK  # droid's and the orchestrator's rewritten
    code, out, modules = modules_after(["status", "--root", str(root)], root)
    assert code == EXIT_OK, out
    assert "late_qa_pairs.json" in out.split("# inboxd status: claude")[0]  # droid's part
    assert {"sqlalchemy", "daemon.status.view"} <= modules


@pytest.fixture
def console_main(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], None]], None]]:
    """``console.main`` in-process, running ``command`` for the command line; the collector
    of this test process is left as it was."""
    thresholds, callbacks = gc.get_threshold(), list(gc.callbacks)

    def run_console(command: Callable[[], None]) -> None:
        monkeypatch.setattr(cli_app, "main", command)
        console.main()

    try:
        yield run_console
    finally:
        gc.callbacks[:] = callbacks
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def test_a_command_that_keeps_working_is_collected_at_the_usual_thresholds_after_its_start(
    console_main: Callable[[Callable[[], None]], None],
) -> None:
    usual = gc.get_threshold()
    seen: dict[str, object] = {}

    def long_command() -> None:
        seen["starting"] = gc.get_threshold()
        before = gc.get_stats()[0]["collections"]
        kept: list[list[int]] = [[] for _ in range(console.START_OBJECTS + 10_000)]  # > the wait
        seen["collected"] = gc.get_stats()[0]["collections"] > before
        seen["after"] = gc.get_threshold()
        del kept

    console_main(long_command)
    assert seen["starting"] == (console.START_OBJECTS, *usual[1:])
    assert seen["collected"] is True
    assert seen["after"] == usual


def test_the_daemon_ends_the_wait_itself_and_freezes_what_its_start_made(
    console_main: Callable[[Callable[[], None]], None],
) -> None:
    usual = gc.get_threshold()
    seen: dict[str, object] = {}

    def daemon_command() -> None:
        frozen = gc.get_freeze_count()
        made: list[list[int]] = [[] for _ in range(1000)]
        console.started()  # as `inboxd run` does once the daemon is running
        seen.update(after=gc.get_threshold(), newly_frozen=gc.get_freeze_count() - frozen)
        del made

    console_main(daemon_command)
    assert seen["after"] == usual
    assert isinstance(seen["newly_frozen"], int) and seen["newly_frozen"] >= 1000
