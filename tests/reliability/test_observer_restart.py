"""A dead observer thread is noticed, restarted and followed by a rescan; nothing is missed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from daemon.config import Settings
from daemon.live.service import Daemon
from tests.support import deliver, wait_for


def test_dead_observer_is_restarted_and_what_arrived_meanwhile_is_imported(
    settings: Settings, start_daemon: Callable[..., Daemon], json_logs: Path
) -> None:
    daemon = start_daemon()
    dead = daemon._observer
    dead.stop()
    dead.join(5)
    deliver(settings.root_path, "outbox/droid/session_02/ema_qa_pairs.json")
    wait_for(
        lambda: daemon._observer is not dead and daemon._observer.is_alive(), 10, "a new observer"
    )
    wait_for(lambda: daemon.counts["imported"] == 1, 10, "the file that arrived meanwhile")
    events = [json.loads(line)["event"] for line in json_logs.read_text().splitlines()]
    assert "watcher.restarted" in events
    # the new observer sees new files by itself
    deliver(settings.root_path, "outbox/droid/session_02/sma_qa_pairs.json")
    wait_for(lambda: daemon.counts["imported"] == 2, 5, "a file after the restart")
