"""The command line in-process: scan, status, process --dry-run, retry, status --write."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from daemon.cli.app import EXIT_OK, EXIT_REJECTED
from daemon.config import Settings
from daemon.errors import EXIT_USAGE
from daemon.live.service import Daemon
from daemon.store.engine import Database
from daemon.store.models import FileRecord, Indicator, QAPairRow
from tests.support import Run, deliver

SESSION_02 = (
    "outbox/droid/session_02/sma_qa_pairs.json",
    "outbox/droid/session_02/ema_qa_pairs.json",
    "outbox/droid/session_02/wma_qa_pairs.jsonl",
)
BAD = ("truncated_qa_pairs.json", "no_answers_qa_pairs.json", "wrong_shape.json")
EXPORT = "outbox/claude/database_qa_export_20251030_012343.json"
SIGNAL = "outbox/droid/ALL_SESSIONS_COMPLETE.txt"
TORN = '{"agent": "droid", "pairs": {"imp'


def _database(root: Path) -> Database:
    return Database(f"sqlite:///{root / 'var' / 'inboxd.db'}")


def _counts(root: Path) -> dict[str, int]:
    db = _database(root)
    try:
        with db.reader() as db_session:
            return {
                table.__name__: db_session.scalar(select(func.count()).select_from(table)) or 0
                for table in (QAPairRow, FileRecord, Indicator)
            }
    finally:
        db.dispose()


def _ledger(root: Path, rel_path: str) -> list[tuple[str, str]]:
    db = _database(root)
    try:
        with db.reader() as db_session:
            return [
                (sha, outcome)
                for sha, outcome in db_session.execute(
                    select(FileRecord.sha256, FileRecord.outcome)
                    .where(FileRecord.rel_path == rel_path)
                    .order_by(FileRecord.id)
                ).all()
            ]
    finally:
        db.dispose()


def _deliver_bad(root: Path, *names: str) -> list[Path]:
    return [deliver(root, f"bad/{name}", f"outbox/droid/{name}") for name in names]


def _status(root: Path, agent: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "inbox" / agent / "status.json").read_text())
    return data


def _would_be(out: str) -> tuple[int, int]:
    found = re.search(r"stored (\d+)  duplicates (\d+)", out)
    assert found, out
    return int(found[1]), int(found[2])


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


# -- scan ----------------------------------------------------------------------------------


def test_scan_of_good_files_exits_0_and_counts_them(run: Run, root: Path) -> None:
    for rel in SESSION_02:
        deliver(root, rel)
    code, out = run("scan")
    assert code == EXIT_OK
    assert out.strip() == "3 files: imported 3"
    assert _counts(root)["QAPairRow"] == 10


def test_scan_counts_bad_samples_as_rejected_beside_the_good_files(run: Run, root: Path) -> None:
    for rel in SESSION_02:
        deliver(root, rel)
    _deliver_bad(root, *BAD)
    _, out = run("scan")
    assert out.strip() == "6 files: imported 3, rejected 3"


def test_second_scan_finds_every_file_unchanged(run: Run, root: Path) -> None:
    for rel in SESSION_02:
        deliver(root, rel)
    run("scan")
    code, out = run("scan")
    assert code == EXIT_OK
    assert out.strip() == "3 files: unchanged 3"
    assert _counts(root)["FileRecord"] == 3


@pytest.mark.parametrize("bad", BAD)
def test_scan_exits_3_when_a_bad_sample_is_rejected(run: Run, root: Path, bad: str) -> None:
    deliver(root, SESSION_02[0])
    _deliver_bad(root, bad)
    code, out = run("scan")
    assert "rejected 1" in out
    assert code == EXIT_REJECTED


def _console_script(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``inboxd`` as agents run it (a process of its own, pipes for output)."""
    script = Path(sys.executable).with_name("inboxd")
    if not script.exists():
        pytest.skip("the inboxd console script is not installed beside this interpreter")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXD_")}
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_console_script_scan_exits_3_when_a_bad_sample_is_rejected(root: Path) -> None:
    _deliver_bad(root, "wrong_shape.json")
    done = _console_script("scan", "--root", str(root))
    assert done.returncode == EXIT_REJECTED, done.stdout + done.stderr
    assert "1 files: rejected 1" in done.stdout


def test_console_script_leaves_with_its_output_log_and_database_complete(root: Path) -> None:
    """main() skips the interpreter's teardown: what a normal exit writes must all be there."""
    target = deliver(root, EXPORT)
    done = _console_script("process", "--root", str(root), str(target))
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1].lstrip().startswith("projected pairs:")
    log_lines = (root / "var" / "log" / "inboxd.jsonl").read_text().splitlines()
    assert json.loads(log_lines[-1])["event"] == "file.imported"
    assert not (root / "var" / "inboxd.db-wal").exists()  # closed: checkpointed, removed
    with Database(f"sqlite:///{root / 'var' / 'inboxd.db'}").reader() as db_session:
        assert db_session.scalar(select(func.count()).select_from(FileRecord)) == 1
    usage = _console_script("no-such-command")
    assert usage.returncode == 2
    assert "No such command" in usage.stderr


# -- status --json -------------------------------------------------------------------------


def test_status_json_has_totals_outcomes_and_per_agent_sessions_and_rejections(
    run: Run, root: Path
) -> None:
    for rel in SESSION_02[:2]:
        deliver(root, rel)
    _deliver_bad(root, "wrong_shape.json")
    run("scan")
    code, out = run("status", "--json")
    assert code == EXIT_OK
    summary = json.loads(out)
    assert summary["pairs"] == 7
    assert summary["files"] == {"imported": 2, "rejected": 1}
    assert set(summary["agents"]) == {"droid", "claude", "gemini"}
    droid = summary["agents"]["droid"]
    assert droid["sessions"]["imported"] == [2]
    assert droid["sessions"]["delivered"] == [2]
    [rejected] = droid["rejected"]
    assert rejected["path"] == "outbox/droid/wrong_shape.json"
    assert "not a known Q&A shape" in rejected["reason"]
    assert summary["agents"]["claude"]["rejected"] == []


def test_status_json_for_one_agent_shows_only_that_agent(run: Run, root: Path) -> None:
    deliver(root, SESSION_02[0])
    run("scan")
    _, out = run("status", "--json", "--agent", "droid")
    summary = json.loads(out)
    assert list(summary["agents"]) == ["droid"]
    assert summary["agents"]["droid"]["pairs"]["imported"] == 4
    assert summary["pairs"] == 4


# -- process --dry-run ---------------------------------------------------------------------


def test_dry_run_changes_nothing_but_reports_would_be_counts(run: Run, root: Path) -> None:
    deliver(root, SESSION_02[0])  # stores the SMA question the export repeats
    run("scan")
    export = deliver(root, EXPORT)
    before = _counts(root)
    archived = _files_under(root / "var" / "archive")
    code, out = run("process", str(export), "--dry-run")
    assert code == EXIT_OK
    assert out.startswith("dry-run")
    assert _would_be(out) == (4, 1)
    assert _counts(root) == before
    assert _files_under(root / "var" / "archive") == archived
    assert _ledger(root, EXPORT) == []


def test_a_real_run_stores_what_the_dry_run_announced(run: Run, root: Path) -> None:
    deliver(root, SESSION_02[0])
    run("scan")
    export = deliver(root, EXPORT)
    _, dry = run("process", str(export), "--dry-run")
    pairs_before = _counts(root)["QAPairRow"]
    _, real = run("process", str(export))
    assert real.startswith("imported")
    assert _would_be(real) == _would_be(dry)
    assert _counts(root)["QAPairRow"] == pairs_before + _would_be(dry)[0]


def test_dry_run_of_a_bad_file_reports_its_reason_and_records_nothing(run: Run, root: Path) -> None:
    [bad] = _deliver_bad(root, "truncated_qa_pairs.json")
    code, out = run("process", str(bad), "--dry-run")
    assert code == EXIT_REJECTED
    assert out.startswith("rejected")
    assert "invalid JSON" in out
    assert _counts(root)["FileRecord"] == 0


def test_dry_run_of_a_completion_signal_writes_no_file(run: Run, root: Path) -> None:
    for rel in ("inbox/droid/session-02-assignment.md", *SESSION_02):
        deliver(root, rel)
    run("scan")
    signal = deliver(root, SIGNAL)
    before = _files_under(root) - {"var/log/inboxd.jsonl"}
    _, out = run("process", str(signal), "--dry-run")
    assert out.startswith("dry-run")
    created = _files_under(root) - {"var/log/inboxd.jsonl"} - before
    assert {name for name in created if not name.startswith("var/inboxd.db")} == set()


def test_dry_run_of_an_imported_file_does_not_blame_another_daemon(run: Run, root: Path) -> None:
    sma = deliver(root, SESSION_02[0])
    run("scan")
    _, out = run("process", str(sma), "--dry-run")
    assert "another daemon" not in out
    assert "already handled" in out or _would_be(out) == (0, 5)


# -- retry ---------------------------------------------------------------------------------


def test_retry_of_an_unfixed_file_rejects_it_again_with_one_ledger_row(
    run: Run, root: Path
) -> None:
    [bad] = _deliver_bad(root, "wrong_shape.json")
    run("scan")
    rel = "outbox/droid/wrong_shape.json"
    first = _ledger(root, rel)
    assert [outcome for _, outcome in first] == ["rejected"]
    code, out = run("retry", str(bad))
    assert code == EXIT_REJECTED
    assert out.startswith("rejected")
    assert "not a known Q&A shape" in out
    _, out = run("retry", "--rejected")
    assert out.startswith("rejected")
    assert _ledger(root, rel) == first


def test_retry_rejected_imports_a_file_once_its_agent_is_configured(run: Run, root: Path) -> None:
    config = root / "inboxd.toml"
    config.write_text('agents = ["droid", "claude"]\n')
    deliver(root, "outbox/droid/session_02/ema_qa_pairs.json", "outbox/gemini/ema_qa_pairs.json")
    rel = "outbox/gemini/ema_qa_pairs.json"
    _, out = run("scan")
    assert "rejected 1" in out
    [(_, outcome)] = _ledger(root, rel)
    assert outcome == "rejected"
    config.write_text('agents = ["droid", "claude", "gemini"]\n')
    _, out = run("retry", "--rejected")
    assert out.startswith("imported")
    assert [outcome for _, outcome in _ledger(root, rel)] == ["imported"]
    assert _counts(root)["QAPairRow"] == 3
    assert _status(root, "gemini")["rejected"] == []


def test_retry_of_an_imported_file_does_not_blame_another_daemon(run: Run, root: Path) -> None:
    sma = deliver(root, SESSION_02[0])
    run("scan")
    code, out = run("retry", str(sma))
    assert code == EXIT_OK
    assert out.startswith("unchanged")
    assert "another daemon" not in out
    assert "already" in out and "imported" in out
    assert _counts(root)["FileRecord"] == 1


def test_retry_without_a_path_or_rejected_flag_is_a_usage_error(run: Run, root: Path) -> None:
    deliver(root, SESSION_02[0])
    code, out = run("retry")
    assert code == EXIT_USAGE
    assert "imported" not in out


# -- status files --------------------------------------------------------------------------


def test_status_write_rebuilds_deleted_status_files(run: Run, root: Path) -> None:
    for rel in SESSION_02:
        deliver(root, rel)
    run("scan")
    before = _status(root, "droid")
    for agent in ("droid", "claude", "gemini"):
        for name in ("status.json", "STATUS.md"):
            (root / "inbox" / agent / name).unlink(missing_ok=True)
    code, _ = run("status", "--write")
    assert code == EXIT_OK
    for agent in ("droid", "claude", "gemini"):
        assert _status(root, agent)["agent"] == agent
        assert (
            (root / "inbox" / agent / "STATUS.md")
            .read_text()
            .startswith(f"# inboxd status: {agent}")
        )
    rebuilt = _status(root, "droid")
    assert rebuilt["pairs"] == before["pairs"]
    assert rebuilt["sessions"] == before["sessions"]


def test_status_write_replaces_a_torn_status_json(run: Run, root: Path) -> None:
    deliver(root, SESSION_02[0])
    run("scan")
    (root / "inbox/droid/status.json").write_text(TORN)
    run("status", "--write")
    status = _status(root, "droid")
    assert status["agent"] == "droid"
    assert status["pairs"]["imported"] == 4


def test_daemon_start_replaces_a_torn_status_json(
    settings: Settings, start_daemon: Callable[..., Daemon]
) -> None:
    torn = settings.root_path / "inbox/droid/status.json"
    torn.write_text(TORN)
    (settings.root_path / "inbox/droid/STATUS.md").write_text("# inboxd stat")
    start_daemon()
    status = json.loads(torn.read_text())
    assert status["agent"] == "droid"
    assert status["pairs"]["imported"] == 0
    assert (
        (settings.root_path / "inbox/droid/STATUS.md")
        .read_text()
        .startswith("# inboxd status: droid")
    )


def test_the_cli_module_leaves_what_only_some_commands_need_unimported() -> None:
    """Every command starts faster without alembic, doctor and the log viewer (lazy), and
    the one-shot commands without watchdog."""
    probe = (
        "import sys, daemon.cli.app\n"
        "lazy = ('alembic', 'daemon.cli.doctor', 'daemon.cli.logview',"
        " 'daemon.cli.progress_bar', 'daemon.live.service', 'watchdog')\n"
        "print(sorted(m for m in lazy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.strip() == "[]"


def test_console_script_imports_with_the_collector_paused_and_runs_with_it_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The entry pauses the cyclic collector only while importing: the command (the daemon,
    for days) must run with it enabled, and the import-time objects frozen out of its way."""
    import gc

    from daemon import console
    from daemon.cli import app as cli

    seen: dict[str, object] = {}

    def fake_cli_main() -> None:
        seen.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count())

    monkeypatch.setattr(cli, "main", fake_cli_main)
    try:
        console.main()
    finally:
        gc.unfreeze()
    assert seen["enabled"] is True
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 0
