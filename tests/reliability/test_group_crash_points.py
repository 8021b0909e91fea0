"""kill -9 inside a group commit: each file of the group is wholly imported or untouched, and
after a restart every file is imported exactly once.

The files are in place (and at rest) before the daemon starts, so its catch-up scan hands
them to the worker all at once: one group. ``in_group`` fires only once a second file of a
group is imported inside the transaction, so that crash proves the files were grouped.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import orjson
import pytest

from daemon.config import Settings
from daemon.store.engine import Database
from tests.reliability.daemon_process import DaemonProcess
from tests.reliability.probes import distinct_question_count, ledger_rows, pair_count
from tests.support import wait_for

FILES = 40
PAIRS_PER_FILE = 5


def _deliver_at_rest(root: Path) -> list[str]:
    """FILES small Q&A files with an mtime a minute old (taken at once, not settled)."""
    names = []
    old = time.time() - 60
    for n in range(FILES):
        rel = f"outbox/droid/session_{1 + n % 4:02d}/group_{n:03d}.json"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pairs = [
            {"question": f"Group file {n}, question {i}?", "answer": f"Answer {n}.{i}."}
            for i in range(PAIRS_PER_FILE)
        ]
        path.write_bytes(orjson.dumps({"indicator": f"Indicator {n % 7}", "qa_pairs": pairs}))
        os.utime(path, (old, old))
        names.append(rel)
    return names


def _state(settings: Settings) -> tuple[int, dict[str, tuple[str, int]]]:
    """(pairs stored, {file: (outcome, pairs stored)}); a question stored twice fails."""
    db = Database(settings.url)
    try:
        pairs = pair_count(db)
        assert distinct_question_count(db) == pairs, "a question stored twice"
        return pairs, {row.rel_path: (row.outcome, row.pairs_stored) for row in ledger_rows(db)}
    finally:
        db.dispose()


@pytest.mark.parametrize("point", ["in_transaction", "in_group", "after_commit"])
def test_kill_9_inside_a_group_then_restart_imports_each_file_once(
    settings: Settings, processes: list[DaemonProcess], point: str
) -> None:
    root = settings.root_path
    names = _deliver_at_rest(root)
    every_file = {name: ("imported", PAIRS_PER_FILE) for name in names}
    crashing = DaemonProcess(root, INBOXD_CRASH_AT=point)
    processes.append(crashing)
    assert crashing.wait_exit(60) == -signal.SIGKILL
    if point == "after_commit":  # the whole group committed at once, then the crash
        assert _state(settings) == (FILES * PAIRS_PER_FILE, every_file)
    else:
        assert _state(settings) == (0, {}), "a crash inside a group leaves every file untouched"

    restarted = DaemonProcess(root)
    processes.append(restarted)
    restarted.wait_ready()
    status = root / "inbox/claude/status.json"
    wait_for(
        lambda: (
            status.exists()
            and json.loads(status.read_text())["database"]["pairs"] == FILES * PAIRS_PER_FILE
        ),
        60,
        "the orchestrator status to show every pair",
    )
    restarted.signal(signal.SIGTERM)
    assert restarted.wait_exit(30) == 0
    assert _state(settings) == (FILES * PAIRS_PER_FILE, every_file)
