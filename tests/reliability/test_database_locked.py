"""Scenario 6: the database locked by another writer for longer than one retry: files wait
(and the status says so), then are imported; nothing rejected, nothing lost."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from daemon.config import Settings
from daemon.live.service import Daemon
from tests.support import deliver, read_status, wait_for

FILES = [
    "outbox/droid/session_02/sma_qa_pairs.json",
    "outbox/droid/session_02/ema_qa_pairs.json",
    "outbox/droid/session_02/wma_qa_pairs.jsonl",
]


def test_files_wait_while_another_writer_holds_the_lock_then_are_imported(
    settings: Settings, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon(db_busy_timeout=0.1, db_retry_seconds=0.3)
    root = settings.root_path
    blocker = sqlite3.connect(settings.var_dir / "inboxd.db", timeout=5)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        for rel in FILES:
            deliver(root, rel)
        waiting = wait_for(
            lambda: read_status(root, "droid").get("waiting"), 10, "a waiting notice"
        )
        assert "database unavailable" in waiting["reason"]
        assert (root / "inbox/droid/STATUS.md").read_text().startswith("> waiting:")
        # held for longer than one whole retry window: the files go round again
        wait_for(lambda: daemon.counts["waiting"] >= 2 * len(FILES), 10, "several retries")
    finally:
        blocker.rollback()
        blocker.close()
    wait_for(
        lambda: read_status(root, "droid").get("pairs", {}).get("imported") == 10,
        20,
        "every file once the lock is gone",
    )
    assert daemon.join(10)
    view = read_status(root, "droid")
    assert "waiting" not in view
    assert view["rejected"] == []
    assert {f["path"] for f in view["recent_files"]} == set(FILES)
    assert daemon.counts["imported"] == len(FILES) and daemon.counts["rejected"] == 0
