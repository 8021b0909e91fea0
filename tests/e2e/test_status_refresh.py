"""Two daemons on one database (two hosts, or two roots on one machine): a file one of them
imports shows in the other's status files without the other handling anything."""

from __future__ import annotations

from pathlib import Path

from daemon.config import Settings
from daemon.live.service import Daemon
from tests.support import deliver, read_status, wait_for

SMA = "outbox/droid/session_02/sma_qa_pairs.json"
EMA = "outbox/droid/session_02/ema_qa_pairs.json"


def test_an_idle_daemon_rewrites_its_status_after_another_daemon_imports(
    settings: Settings, tmp_path: Path
) -> None:
    host_a = Daemon(settings)
    host_b = Daemon(
        settings.model_copy(
            update={
                "root": tmp_path / "host_b",
                "database_url": settings.url,
                "status_refresh_seconds": 0.2,
            }
        )
    )
    try:
        host_a.start()
        host_b.start()
        root_a, root_b = settings.root_path, host_b.settings.root_path
        assert read_status(root_b, "droid")["pairs"]["imported"] == 0
        deliver(root_a, SMA)
        wait_for(
            lambda: read_status(root_b, "droid").get("pairs", {}).get("imported") == 4,
            what="host B's status to count host A's SMA file",
        )
        deliver(root_a, EMA)
        wait_for(
            lambda: read_status(root_b, "claude").get("database", {}).get("pairs") == 7,
            what="host B's totals to follow host A's second file",
        )
        assert host_b.join(10)
        assert host_b.counts["imported"] == 0, "host B handled no file itself"
        assert read_status(root_b, "droid")["recent_files"][0]["path"] == EMA
    finally:
        host_a.stop(timeout=10)
        host_b.stop(timeout=10)
