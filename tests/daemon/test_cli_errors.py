"""Every user mistake on the command line ends in one line on stderr, never a traceback.

Each bad command line of issue 14 (points 7 and 8) runs as the installed console script, in a
process of its own, as a person or an agent runs it: the exit code (2 for usage and
configuration, 1 for a failed operation), the one ``error: ...`` line saying what is wrong and
what to do, and no traceback (only with ``--debug`` or ``INBOXD_DEBUG=1``). Read-only commands
leave no root and no database behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.config import Settings
from daemon.ingest.oneshot import prepare
from daemon.store.engine import Database
from daemon.store.models import FileRecord
from tests.support import SAMPLES, assert_one_error_line
from tests.support import console as inboxd

EXIT_USAGE = 2
EXIT_FAILED = 1
PG_UNKNOWN_ROLE = "postgresql+psycopg://nobody_role@127.0.0.1:5432/test"
SMA = "outbox/droid/session_02/sma_qa_pairs.json"


@pytest.fixture
def ready_root(root: Path) -> Path:
    """A root that ``inboxd init`` has set up (folders, database at head)."""
    settings = Settings(root=root)
    db = Database(settings.url)
    try:
        prepare(settings, db)
    finally:
        db.dispose()
    return root


@dataclass(frozen=True)
class Case:
    """A bad command line: ``{root}`` and ``{tmp}`` in args, env and message are filled in."""

    args: tuple[str, ...]
    code: int
    message: str
    toml: bytes | None = None  # the root's inboxd.toml
    env: dict[str, str] = field(default_factory=dict)


CASES = {
    # -- 7: tracebacks for user mistakes -----------------------------------------------------
    "logs-negative-lines": Case(
        ("logs", "-n", "-5", "--root", "{root}"),
        EXIT_USAGE,
        "--lines must be 0 or more (got -5)",
    ),
    "restore-missing-backup": Case(
        ("restore", "{tmp}/nope.db", "--root", "{root}"),
        EXIT_USAGE,
        "no backup file at {tmp}/nope.db",
    ),
    "database-not-a-url": Case(
        ("init", "--database", "notaurl", "--root", "{root}"),
        EXIT_USAGE,
        "--database 'notaurl': not a database URL",
    ),
    "database-mysql": Case(
        ("init", "--database", "mysql://someone:secret@localhost/x", "--root", "{root}"),
        EXIT_USAGE,
        "--database 'mysql://someone:***@localhost/x': unsupported database 'mysql'",
    ),
    "postgresql-unknown-role": Case(
        ("init", "--database", PG_UNKNOWN_ROLE, "--root", "{root}"),
        EXIT_FAILED,
        f"cannot connect to the database {PG_UNKNOWN_ROLE}",
    ),
    "toml-unclosed-array": Case(
        ("status", "--root", "{root}"),
        EXIT_USAGE,
        "{root}/inboxd.toml line 1: unclosed array",
        toml=b'agents = ["droid",\nsettle_seconds = 1\n',
    ),
    "toml-not-utf8": Case(
        ("status", "--root", "{root}"),
        EXIT_USAGE,
        "{root}/inboxd.toml line 1: not UTF-8 text",
        toml=b'agents = ["dr\xffid"]\n',
    ),
    "toml-not-a-number": Case(
        ("status", "--root", "{root}"),
        EXIT_USAGE,
        "{root}/inboxd.toml line 2: settle_seconds = 'fast': input should be a valid number",
        toml=b'agents = ["droid"]\nsettle_seconds = "fast"\n',
    ),
    "env-not-a-number": Case(
        ("status", "--root", "{root}"),
        EXIT_USAGE,
        "INBOXD_SETTLE_SECONDS='abc': input should be a valid number",
        env={"INBOXD_SETTLE_SECONDS": "abc"},
    ),
    # -- 8: silent or misleading -------------------------------------------------------------
    "config-file-missing": Case(
        ("status", "--root", "{root}"),
        EXIT_USAGE,
        "INBOXD_CONFIG names {tmp}/nope.toml, which does not exist",
        env={"INBOXD_CONFIG": "{tmp}/nope.toml"},
    ),
    "unknown-setting": Case(
        ("status", "--root", "{root}"),
        EXIT_USAGE,
        "{root}/inboxd.toml line 1: unknown setting 'agentz' (did you mean 'agents'?)",
        toml=b'agentz = ["droid"]\n',
    ),
    "settle-negative": Case(
        ("status", "--root", "{root}"),
        EXIT_USAGE,
        "settle_seconds = -1: input should be greater than or equal to 0",
        toml=b"settle_seconds = -1\n",
    ),
    "rag-distance-7": Case(
        ("status", "--root", "{root}"),
        EXIT_USAGE,
        "rag_distance_threshold = 7: input should be less than or equal to 2",
        toml=b"rag_distance_threshold = 7\n",
    ),
    "max-file-bytes-negative": Case(
        ("status", "--root", "{root}"),
        EXIT_USAGE,
        "max_file_bytes = -5: input should be greater than 0",
        toml=b"max_file_bytes = -5\n",
    ),
    "agent-not-a-folder-name": Case(
        ("status", "--root", "{root}"),
        EXIT_USAGE,
        "INBOXD_AGENTS='droid,../x': '../x' is not a plain folder name",
        env={"INBOXD_AGENTS": "droid,../x"},
    ),
    "status-unknown-agent": Case(
        ("status", "--agent", "nobody", "--root", "{root}"),
        EXIT_USAGE,
        "unknown agent 'nobody'; the agents are droid, claude, gemini",
    ),
    "status-no-root": Case(
        ("status", "--root", "{tmp}/nonexistent"),
        EXIT_USAGE,
        "no folder at {tmp}/nonexistent",
    ),
    "process-missing-file": Case(
        ("process", "outbox/droid/nonexistent.json", "--root", "{root}"),
        EXIT_USAGE,
        "no such file: outbox/droid/nonexistent.json",
    ),
    "process-outside-the-root": Case(
        ("process", "/etc/passwd", "--root", "{root}"),
        EXIT_USAGE,
        "/etc/passwd is outside the root {root}; give --agent AGENT",
    ),
    "retry-missing-file": Case(
        ("retry", "outbox/droid/nonexistent.json", "--root", "{root}"),
        EXIT_USAGE,
        "no such file: outbox/droid/nonexistent.json",
    ),
    "unknown-command": Case(("no-such-command",), EXIT_USAGE, "No such command 'no-such-command'"),
}


def _filled(text: str, root: Path, tmp: Path) -> str:
    return text.replace("{root}", str(root)).replace("{tmp}", str(tmp))


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_user_mistake_is_one_error_line(
    case: Case, ready_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("elsewhere")
    if case.toml is not None:
        (ready_root / "inboxd.toml").write_bytes(case.toml)
    env = {k: _filled(v, ready_root, tmp) for k, v in case.env.items()}
    done = inboxd(*(_filled(a, ready_root, tmp) for a in case.args), cwd=ready_root, env=env)
    assert_one_error_line(done, case.code, _filled(case.message, ready_root, tmp))


def test_an_inboxd_toml_that_is_a_directory_is_an_error(ready_root: Path) -> None:
    (ready_root / "inboxd.toml").mkdir()
    done = inboxd("status", "--root", str(ready_root), cwd=ready_root)
    assert_one_error_line(done, EXIT_USAGE, f"{ready_root}/inboxd.toml is a directory")


def test_report_in_a_root_without_its_database_creates_none(root: Path) -> None:
    """A PostgreSQL root run without its URL: var/ is there, var/inboxd.db is not."""
    (root / "var" / "archive").mkdir(parents=True)
    before = sorted(root.rglob("*"))
    done = inboxd("report", "gap", "--root", str(root), cwd=root)
    assert_one_error_line(
        done, EXIT_USAGE, f"no database at {root}/var/inboxd.db; run 'inboxd init' first"
    )
    assert sorted(root.rglob("*")) == before, "nothing created: no database, no log"


@pytest.mark.parametrize("command", ["status", "report", "logs", "doctor"])
def test_a_read_only_command_creates_no_root(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    done = inboxd(command, "--root", str(missing), cwd=tmp_path)
    assert done.code != 0
    assert "Traceback" not in done.err
    assert not missing.exists(), f"{command} created {sorted(missing.rglob('*'))}"


@pytest.mark.parametrize("how", [("--debug",), ()], ids=["--debug", "INBOXD_DEBUG=1"])
def test_debug_shows_the_traceback(how: tuple[str, ...], ready_root: Path) -> None:
    env = {} if how else {"INBOXD_DEBUG": "1"}
    done = inboxd(
        *how, "status", "--agent", "nobody", "--root", str(ready_root), cwd=ready_root, env=env
    )
    assert done.code == EXIT_USAGE
    assert "Traceback" in done.err
    assert done.err.rstrip().splitlines()[-1].startswith("error: unknown agent 'nobody'")


def test_process_with_agent_imports_a_file_from_outside_the_tree(
    ready_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("downloads") / "sma_qa_pairs.json"
    outside.write_bytes((SAMPLES / SMA).read_bytes())
    done = inboxd(
        "process", str(outside), "--agent", "droid", "--root", str(ready_root), cwd=ready_root
    )
    assert done.code == 0, done.out + done.err
    assert "imported" in done.out
    copy = ready_root / "outbox/droid/sma_qa_pairs.json"
    assert copy.read_bytes() == outside.read_bytes()
    db = Database(f"sqlite:///{ready_root / 'var' / 'inboxd.db'}")
    try:
        with db.reader() as db_session:
            rows = db_session.execute(select(FileRecord.rel_path, FileRecord.outcome)).all()
    finally:
        db.dispose()
    assert [tuple(row) for row in rows] == [("outbox/droid/sma_qa_pairs.json", "imported")]


def test_process_with_an_unknown_agent_is_refused(ready_root: Path) -> None:
    done = inboxd(
        "process", "/etc/passwd", "--agent", "nobody", "--root", str(ready_root), cwd=ready_root
    )
    assert_one_error_line(done, EXIT_USAGE, "unknown agent 'nobody'")
    assert not (ready_root / "outbox" / "nobody").exists()


def test_an_assignment_target_too_large_is_rejected_saying_so(ready_root: Path) -> None:
    plan = ready_root / "inbox/droid/session-09-assignment.md"
    plan.write_text(
        "# Session 09 Assignment: Volume\n\n"
        "**Target:** 99999999999999999999 pairs per indicator\n\n"
        "## Indicators\n1. OBV\n2. VWAP\n",
        encoding="utf-8",
    )
    done = inboxd("process", str(plan), "--root", str(ready_root), cwd=ready_root)
    assert done.code == 3, done.out + done.err
    shown = [line for line in done.out.splitlines() if not line.startswith('{"')]
    assert shown[0].startswith("rejected"), done.out
    assert "line 3: target 99999999999999999999 is not a number of pairs per indicator" in done.out
    assert "Traceback" not in done.err
