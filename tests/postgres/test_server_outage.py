"""PostgreSQL stopped for 30 s in the middle of a burst: files wait, the daemon reconnects
when the server is back, and every file is imported; none is rejected for the outage."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.postgres.private_server import PrivateServer
from tests.reliability.daemon_process import DaemonProcess
from tests.support import wait_for

TOTAL = 2_000
OUTAGE_SECONDS = 30

WRITER = """
import json, os, sys
folder, start, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(start, start + count):
    tmp = os.path.join(folder, f".o{i:05d}.json")
    with open(tmp, "w") as handle:
        json.dump({"indicator": "OBV", "qa_pairs": [
            {"question": f"Outage question {i}?", "answer": f"Answer {i}."}]}, handle)
    os.rename(tmp, os.path.join(folder, f"o{i:05d}.json"))
"""


def _write(folder: Path, start: int, count: int) -> None:
    subprocess.run(
        [sys.executable, "-c", WRITER, str(folder), str(start), str(count)], check=True, timeout=300
    )


@pytest.fixture
def server() -> Iterator[PrivateServer]:
    private = PrivateServer()
    try:
        private.start()
        with psycopg.connect(private.admin_url, autocommit=True) as connection:
            connection.execute("CREATE DATABASE inboxd")
        yield private
    finally:
        private.remove()


def _ledger(server: PrivateServer) -> dict[str, int]:
    """outcome -> files; pairs under "pairs"."""
    with psycopg.connect(server.libpq_url("inboxd")) as connection:
        counts = dict(
            connection.execute("SELECT outcome, count(*) FROM files GROUP BY outcome").fetchall()
        )
        pairs = connection.execute("SELECT count(*) FROM qa_pairs").fetchone()
        assert pairs is not None
        counts["pairs"] = pairs[0]
    return counts


@pytest.mark.timeout(900)
def test_an_outage_mid_burst_delays_files_and_rejects_none(
    root: Path, server: PrivateServer
) -> None:
    # the periodic rescan is left out: this is about queued files, not the catch-up scan
    daemon = DaemonProcess(
        root, INBOXD_DATABASE_URL=server.url("inboxd"), INBOXD_RESCAN_SECONDS="3600"
    )
    try:
        daemon.wait_ready(120)
        folder = root / "outbox/droid/burst"
        folder.mkdir()
        _write(folder, 0, TOTAL // 2)
        wait_for(lambda: _ledger(server).get("imported", 0) >= 100, 120, "the burst under way")
        server.stop()  # immediate: connections die mid-transaction
        down_since = time.monotonic()
        _write(folder, TOTAL // 2, TOTAL // 2)  # the rest of the burst arrives while it is away
        wait_for(lambda: daemon.saw("file.waiting"), OUTAGE_SECONDS, "files to wait")
        assert daemon.proc.poll() is None, "the daemon survives the outage"
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since)))  # the outage
        server.start()
        wait_for(
            lambda: _ledger(server).get("imported", 0) == TOTAL,
            600,
            "every file once the server is back",
        )
        status = root / "inbox/droid/status.json"
        wait_for(
            lambda: "waiting" not in json.loads(status.read_text()),
            30,
            "the waiting notice to clear",
        )
        daemon.signal(signal.SIGTERM)
        assert daemon.wait_exit(60) == 0
    finally:
        daemon.kill()
    assert _ledger(server) == {"imported": TOTAL, "pairs": TOTAL}
    events = daemon.events()
    assert not [e for e in events if e.get("event") in ("file.rejected", "file.failed")]
    waited = [e for e in events if e.get("event") == "file.waiting"]
    assert waited and all("database unavailable" in e["reason"] for e in waited)
