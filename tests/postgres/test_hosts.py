"""One inboxd per host, each watching its own folders, one PostgreSQL database: what one host
imports is counted in the status the other writes, and never imported twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.config import Settings
from daemon.live.service import Daemon
from tests.support import deliver, read_status, wait_for


@pytest.fixture
def hosts(tmp_path: Path, postgres_url: str) -> Iterator[list[Daemon]]:
    """Two daemons with their own roots (as on two machines) and one database; not started."""
    daemons = [
        Daemon(
            Settings(
                root=tmp_path / name,
                settle_seconds=0.2,
                rescan_seconds=3600,
                database_url=postgres_url,
            )
        )
        for name in ("host_a", "host_b")
    ]
    yield daemons
    for daemon in daemons:
        daemon.stop(timeout=10)


def test_the_status_on_one_host_counts_what_the_other_host_imported(
    hosts: list[Daemon],
) -> None:
    host_a, host_b = hosts
    root_a, root_b = (d.settings.root_path for d in hosts)
    host_a.start()
    deliver(root_a, "outbox/droid/session_02/sma_qa_pairs.json")
    wait_for(
        lambda: read_status(root_a, "droid").get("pairs", {}).get("imported") == 4,
        what="host A to import the SMA file",
    )
    host_b.start()
    wait_for(host_b.ready.is_set, what="host B's catch-up scan")
    assert read_status(root_b, "droid")["pairs"]["imported"] == 4, "written by B from the database"
    assert read_status(root_b, "claude")["database"]["pairs"] == 4
    # the same file delivered on host B too: its questions are duplicates, not new pairs
    deliver(root_b, "outbox/droid/session_02/sma_qa_pairs.json", "outbox/droid/again/sma.json")
    deliver(root_b, "outbox/droid/session_02/ema_qa_pairs.json")
    wait_for(
        lambda: (
            read_status(root_b, "claude").get("database", {}).get("pairs") == 7
            and read_status(root_b, "droid")["pairs"]["duplicates_skipped"] == 6
        ),
        what="host B's imports on top of host A's",
    )
    assert host_b.join(10)
    assert host_b.counts["imported"] == 2
