"""Scenario 7: the same name with new content is a new import; identical content again is a
recorded duplicate (the ledger row's seen_count goes up; no new row, no new pairs)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from tests.reliability.probes import has_question, ledger_rows, pair_count, qa_document
from tests.support import wait_for

REL = "outbox/droid/obv_qa_pairs.json"
FIRST = "Same name, first version: what is on-balance volume?"
SECOND = "Same name, second version: what is the money flow index?"


def _first_version_imported(settings: Settings, db: Database) -> Path:
    target = settings.root_path / REL
    target.write_bytes(qa_document(FIRST))
    wait_for(lambda: has_question(db, FIRST), timeout=5, what="the first version")
    return target


def test_same_name_with_new_content_is_a_second_import(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    target = _first_version_imported(settings, db)

    target.write_bytes(qa_document(FIRST, SECOND))
    wait_for(lambda: has_question(db, SECOND), timeout=5, what="the second version")
    assert daemon.join(5)
    rows = ledger_rows(db, REL)
    assert [(r.outcome, r.pairs_stored) for r in rows] == [("imported", 1), ("imported", 1)]
    assert rows[0].sha256 != rows[1].sha256
    assert pair_count(db) == 2
    assert daemon.counts["imported"] == 2


def test_identical_content_touched_and_rewritten_is_a_recorded_duplicate(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    target = _first_version_imported(settings, db)
    assert daemon.join(5)
    [before] = ledger_rows(db, REL)
    assert before.seen_count == 1

    os.utime(target)  # touch
    target.write_bytes(target.read_bytes())  # the same bytes again
    wait_for(
        lambda: ledger_rows(db, REL)[0].seen_count > 1, timeout=5, what="the sighting to be counted"
    )
    assert daemon.join(5)
    [after] = ledger_rows(db, REL)
    assert (after.sha256, after.outcome, after.pairs_stored) == (before.sha256, "imported", 1)
    assert after.seen_count == 1 + daemon.counts["unchanged"]
    assert pair_count(db) == 1
    assert daemon.counts["imported"] == 1
