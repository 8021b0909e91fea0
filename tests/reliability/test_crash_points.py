"""Scenario 1: kill -9 at each crash point while importing a large export; after a restart
every pair is stored exactly once and the ledger agrees."""

from __future__ import annotations

import json
import signal

import pytest
from sqlalchemy import func, select

from bench.datagen import export_document, write_json
from daemon.config import Settings
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow
from tests.reliability.daemon_process import DaemonProcess
from tests.support import wait_for

PAIRS = 3_000
EXPORT = "outbox/claude/database_qa_export_crash.json"


def _counts(settings: Settings) -> tuple[int, list[tuple[str, str, int]]]:
    db = Database(settings.url)
    try:
        with db.reader() as db_session:
            pairs = db_session.scalar(select(func.count()).select_from(QAPairRow)) or 0
            rows = db_session.execute(
                select(FileRecord.rel_path, FileRecord.outcome, FileRecord.pairs_stored)
            ).all()
            ledger = [(path, outcome, stored) for path, outcome, stored in rows]
            distinct = db_session.scalar(select(func.count(func.distinct(QAPairRow.question_key))))
            assert distinct == pairs, "a question stored twice"
            return pairs, ledger
    finally:
        db.dispose()


@pytest.mark.parametrize("point", ["after_read", "in_transaction", "after_commit"])
def test_kill_9_at_each_crash_point_then_restart_stores_every_pair_once(
    settings: Settings, processes: list[DaemonProcess], point: str
) -> None:
    root = settings.root_path
    crashing = DaemonProcess(root, INBOXD_CRASH_AT=point)
    processes.append(crashing)
    crashing.wait_ready()
    write_json(root / EXPORT, export_document(sessions=30, pairs=PAIRS, answer_length=400))
    assert crashing.wait_exit(60) == -signal.SIGKILL
    pairs, ledger = _counts(settings)
    if point == "after_commit":
        assert (pairs, ledger) == (PAIRS, [(EXPORT, "imported", PAIRS)])
    else:
        assert (pairs, ledger) == (0, []), "a crash before commit leaves nothing behind"

    restarted = DaemonProcess(root)
    processes.append(restarted)
    restarted.wait_ready()
    status = root / "inbox/claude/status.json"
    wait_for(
        lambda: status.exists() and json.loads(status.read_text())["database"]["pairs"] == PAIRS,
        30,
        "claude's status to show every pair",
    )
    restarted.signal(signal.SIGTERM)
    assert restarted.wait_exit(30) == 0
    assert _counts(settings) == (PAIRS, [(EXPORT, "imported", PAIRS)])
