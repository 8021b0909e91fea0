"""Issue 14, point 4: every status that shows a number is rewritten when that number changes.

A refinement file that arrives before its pairs leaves records waiting for their pair; the
Q&A file that brings the pairs applies them, and the refiner's status must then say so, not
only ``inboxd status`` (which reads the database).
"""

from __future__ import annotations

from collections.abc import Callable

from daemon.config import Settings
from daemon.live.service import Daemon
from tests.support import deliver, read_status, wait_for

REFINEMENT = "outbox/gemini/refinement_0001.jsonl"  # scores two questions of the SMA file
SMA = "outbox/droid/session_02/sma_qa_pairs.json"


def _waiting_records(settings: Settings) -> object:
    return (
        read_status(settings.root_path, "gemini")
        .get("refinement", {})
        .get("unmatched_records_waiting")
    )


def test_the_refiners_status_follows_records_applied_when_their_pairs_arrive(
    settings: Settings, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon(status_refresh_seconds=0)  # no periodic rewrite to hide a stale one
    root = settings.root_path
    deliver(root, REFINEMENT)
    wait_for(lambda: _waiting_records(settings) == 2, 10, "2 records waiting for their pair")
    deliver(root, SMA)
    wait_for(lambda: daemon.counts["imported"] == 2, 10, "the SMA file imported")
    assert daemon.join(10)
    assert _waiting_records(settings) == 0, (
        "gemini's status.json still counts records already applied: "
        f"{read_status(root, 'gemini').get('refinement')}"
    )
    markdown = (root / "inbox/gemini/STATUS.md").read_text("utf-8")
    assert "records waiting for their pair: 0" in markdown
