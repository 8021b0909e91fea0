"""``snapshot_on_close``: the live daemon writes a dataset snapshot at every batch close.

The real daemon (watchdog observer, worker thread) on a temporary root, on each engine (a
SQLite file, a fresh PostgreSQL database), with the setting given the way an operator gives
it, ``INBOXD_SNAPSHOT_ON_CLOSE=1``. The demo deliveries arrive, then droid's completion
signal: the snapshot ``droid-batch-1`` must hold every stored pair, be logged, and be named in
the orchestrator's status. A second signal with nothing new closes nothing, so it must not
write a second snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from daemon.config import Settings
from daemon.dataset.snapshot import verify
from daemon.live.service import Daemon
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow, SignalRow
from tests.dataset.support import read_data_file
from tests.support import count_rows, deliver, read_status, sample_files, wait_for

SIGNAL = "outbox/droid/ALL_SESSIONS_COMPLETE.txt"
SNAPSHOT = "droid-batch-1"


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(
    root: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The root's settings with ``INBOXD_SNAPSHOT_ON_CLOSE=1`` in the environment, on each
    engine (PostgreSQL: a fresh database, or a skip saying why)."""
    monkeypatch.setenv("INBOXD_SNAPSHOT_ON_CLOSE", "1")
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    settings = Settings(root=root, settle_seconds=0.2, rescan_seconds=3600, database_url=url)
    assert settings.snapshot_on_close, "the environment variable was not read"
    return settings


def _signal_outcomes(settings: Settings) -> list[str]:
    db = Database(settings.url)
    try:
        with db.reader() as db_session:
            return list(db_session.scalars(select(SignalRow.outcome).order_by(SignalRow.id)))
    finally:
        db.dispose()


def _events(log_file: Path, event: str) -> list[dict[str, Any]]:
    lines = log_file.read_text("utf-8").splitlines() if log_file.exists() else []
    return [e for e in map(json.loads, lines) if e["event"] == event]


def _close_first_batch(settings: Settings, daemon: Daemon) -> Path:
    """Every demo delivery, then droid's signal once they are all handled; the snapshot's
    folder, once its manifest is there."""
    files = [rel for rel in sample_files() if rel != SIGNAL]
    for rel in files:
        deliver(settings.root_path, rel)
    wait_for(
        lambda: count_rows(settings, FileRecord) == len(files), 20, "every delivery in the ledger"
    )
    deliver(settings.root_path, SIGNAL)
    folder = settings.dataset_dir / SNAPSHOT
    wait_for((folder / "manifest.json").exists, 30, f"{SNAPSHOT}/manifest.json")
    assert daemon.join(10)
    return folder


def test_a_batch_close_writes_a_snapshot_of_every_pair_logged_and_shown_to_the_orchestrator(
    settings: Settings, start_daemon: Callable[..., Daemon], json_logs: Path
) -> None:
    daemon = start_daemon()
    folder = _close_first_batch(settings, daemon)
    stored = count_rows(settings, QAPairRow)
    assert stored > 0
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert (manifest["name"], manifest["pairs"], manifest["parent"]) == (SNAPSHOT, stored, None)
    assert manifest["database"] == make_url(settings.url).get_backend_name()
    assert len(read_data_file(folder / "pairs.parquet")) == stored
    assert verify(settings, SNAPSHOT) == []
    logged = _events(json_logs, "batch.snapshot")
    assert [(e["agent"], e["batch"], e["name"], e["pairs"]) for e in logged] == [
        ("droid", 1, SNAPSHOT, stored)
    ]
    status = (settings.root_path / "inbox" / settings.orchestrator / "STATUS.md").read_text()
    assert f"last dataset snapshot: {SNAPSHOT} ({stored} pairs" in status
    assert read_status(settings.root_path, settings.orchestrator)["datasets"]["name"] == SNAPSHOT


def test_a_second_signal_with_nothing_new_writes_no_second_snapshot(
    settings: Settings, start_daemon: Callable[..., Daemon], json_logs: Path
) -> None:
    daemon = start_daemon()
    folder = _close_first_batch(settings, daemon)
    manifest = (folder / "manifest.json").read_bytes()
    handled = count_rows(settings, FileRecord)
    again = settings.root_path / "outbox" / "droid" / "ALL_SESSIONS_COMPLETE.json"
    again.write_text('{"sessions": 43}', encoding="utf-8")
    wait_for(
        lambda: count_rows(settings, FileRecord) == handled + 1, 20, "the second signal handled"
    )
    assert daemon.join(10)
    assert _signal_outcomes(settings) == ["closed", "already-closed"]
    assert sorted(p.name for p in settings.dataset_dir.iterdir()) == [SNAPSHOT]
    assert (folder / "manifest.json").read_bytes() == manifest
    assert len(_events(json_logs, "batch.snapshot")) == 1
