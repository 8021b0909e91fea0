"""Issue 14, point 2: a delivery the daemon cannot read is a *waiting* file of its agent.

The daemon runs as a real child process that cannot read a mode-000 file: as an ordinary
user that is the default; as root (these tests' usual case) it runs under ``setpriv`` without
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH. The file is named with its reason in the agent's
``status.json`` and ``STATUS.md``, logged once as ``file.waiting`` (agent and path, no
traceback), kept out of the ledger, and taken as soon as it is made readable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Settings
from daemon.store.engine import Database
from tests.reliability.daemon_process import INBOXD, DaemonProcess
from tests.reliability.probes import has_question, ledger_rows, qa_document
from tests.support import read_status, wait_for

REL = "outbox/droid/unreadable_qa.json"
QUESTION = "Unreadable at first: what does the accumulation/distribution line measure?"
DROP_READ_OVERRIDE = (
    "setpriv",
    "--inh-caps=-all",
    "--bounding-set=-dac_override,-dac_read_search",
)


@pytest.fixture(scope="module")
def unprivileged(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """The command prefix under which the daemon cannot read a mode-000 file."""
    probe = tmp_path_factory.mktemp("probe") / "mode-000"
    probe.write_text("secret")
    probe.chmod(0)
    if os.geteuid() != 0:
        return ()  # an ordinary user cannot read it anyway
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv is missing: root reads mode-000 files")
    tried = subprocess.run([*DROP_READ_OVERRIDE, "cat", str(probe)], capture_output=True)
    if tried.returncode == 0:
        pytest.skip("setpriv could not drop CAP_DAC_OVERRIDE here: root reads mode-000 files")
    return DROP_READ_OVERRIDE


@pytest.fixture
def start(settings: Settings, unprivileged: tuple[str, ...]) -> Iterator[Any]:
    started: list[DaemonProcess] = []

    def factory(**env: str) -> DaemonProcess:
        process = DaemonProcess(settings.root_path, wrapper=unprivileged, **env)
        started.append(process)
        process.wait_ready()
        return process

    yield factory
    for process in started:
        process.kill()


def _deliver_unreadable(root: Path) -> Path:
    target = root / REL
    part = target.with_name(target.name + ".part")
    part.write_bytes(qa_document(QUESTION))
    part.chmod(0)
    part.rename(target)
    return target


def _waiting_files(root: Path) -> list[dict[str, Any]] | None:
    """droid's waiting list in status.json; None while the file is missing or replaced."""
    view = read_status(root, "droid")
    return view.get("waiting_files") if view else None


def _events(process: DaemonProcess, name: str) -> list[dict[str, Any]]:
    return [e for e in process.events() if e.get("event") == name]


def test_an_unreadable_delivery_waits_with_its_reason_and_is_logged_once(
    settings: Settings, db: Database, start: Any
) -> None:
    root = settings.root_path
    process = start(INBOXD_RESCAN_SECONDS="1")
    _deliver_unreadable(root)

    waiting = wait_for(
        lambda: _waiting_files(root), timeout=20, what="the file in droid's waiting list"
    )
    assert [w["path"] for w in waiting] == [REL]
    reason = waiting[0]["reason"]
    assert reason.startswith(f"{REL}: permission denied: cannot read;"), reason
    assert "chmod a+r" in reason and waiting[0]["since"]
    markdown = (root / "inbox" / "droid" / "STATUS.md").read_text()
    assert "## Waiting files" in markdown and REL in markdown
    assert read_status(root, "droid")["rejected"] == []
    assert ledger_rows(db, REL) == [], "an unreadable file is not handled: no ledger row"

    # rescans retry it quietly: no traceback, no second log line
    rescans = len(_events(process, "daemon.rescan"))
    wait_for(
        lambda: len(_events(process, "daemon.rescan")) >= rescans + 3,
        timeout=15,
        what="three more rescans",
    )
    assert _events(process, "worker.error") == []
    [logged] = _events(process, "file.waiting")
    assert (logged["level"], logged["agent"], logged["path"]) == ("error", "droid", REL)
    assert logged["reason"] == reason
    shown = subprocess.run(
        [str(INBOXD), "logs", "--root", str(root), "--agent", "droid", "--level", "error"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert REL in shown.stdout, shown.stdout + shown.stderr

    (root / REL).chmod(0o644)
    wait_for(lambda: has_question(db, QUESTION), timeout=10, what="the import once readable")
    wait_for(lambda: _waiting_files(root) == [], timeout=10, what="the waiting list emptied")
    assert "## Waiting files" not in (root / "inbox" / "droid" / "STATUS.md").read_text()
    assert [r.outcome for r in ledger_rows(db, REL)] == ["imported"]


def test_a_chmod_is_seen_at_once_not_at_the_next_rescan(
    settings: Settings, db: Database, start: Any
) -> None:
    root = settings.root_path
    start(INBOXD_RESCAN_SECONDS="3600")
    target = _deliver_unreadable(root)
    wait_for(lambda: _waiting_files(root), timeout=20, what="the file in droid's waiting list")

    target.chmod(0o644)  # an inotify attribute event, no new content
    wait_for(lambda: has_question(db, QUESTION), timeout=5, what="the import after chmod")
    wait_for(lambda: _waiting_files(root) == [], timeout=5, what="the waiting list emptied")


def test_a_waiting_file_deleted_leaves_the_waiting_list(
    settings: Settings, db: Database, start: Any
) -> None:
    root = settings.root_path
    start(INBOXD_RESCAN_SECONDS="3600")
    target = _deliver_unreadable(root)
    wait_for(lambda: _waiting_files(root), timeout=20, what="the file in droid's waiting list")

    target.unlink()
    wait_for(lambda: _waiting_files(root) == [], timeout=5, what="the waiting list emptied")
    assert ledger_rows(db, REL) == []
