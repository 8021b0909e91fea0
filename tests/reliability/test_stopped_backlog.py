"""Scenario 5: 1,000 files arriving while the daemon is stopped are all imported at start, and
a start after that imports nothing again."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from tests.reliability.probes import (
    distinct_question_count,
    has_question,
    ledger_rows,
    pair_count,
    qa_document,
)
from tests.support import wait_for

FILES = 1_000
FOLDERS = 10
CATCH_UP_SECONDS = 90  # the start_daemon fixture allows 10 s; 1,000 imports take longer


def _question(i: int) -> str:
    return f"Backlog question {i}: what does indicator {i} measure?"


def _rel(i: int) -> str:
    return f"outbox/droid/session_{i % FOLDERS + 1:02d}/backlog_{i:04d}_qa_pairs.json"


def _drop_backlog(settings: Settings) -> None:
    for i in range(FILES):
        path = settings.root_path / _rel(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(qa_document(_question(i)))


@pytest.fixture
def start_and_catch_up(settings: Settings) -> Iterator[Callable[[], Daemon]]:
    """Start a daemon and wait (longer than the shared fixture) for its ready event."""
    started: list[Daemon] = []

    def start() -> Daemon:
        daemon = Daemon(settings)
        started.append(daemon)
        daemon.start()
        wait_for(daemon.ready.is_set, CATCH_UP_SECONDS, "the catch-up scan to finish")
        return daemon

    yield start
    for daemon in started:
        daemon.stop(timeout=10)


def test_thousand_files_dropped_while_stopped_are_imported_at_start_and_never_again(
    settings: Settings, db: Database, start_and_catch_up: Callable[[], Daemon]
) -> None:
    start_and_catch_up().stop()
    _drop_backlog(settings)

    daemon = start_and_catch_up()
    assert daemon.join(10)
    rows = ledger_rows(db)
    assert sorted(r.rel_path for r in rows) == sorted(_rel(i) for i in range(FILES))
    assert {(r.outcome, r.pairs_stored) for r in rows} == {("imported", 1)}
    assert pair_count(db) == distinct_question_count(db) == FILES
    assert daemon.counts["imported"] == FILES
    assert daemon.counts["worker_error"] == 0
    daemon.stop()

    again = start_and_catch_up()
    assert again.join(10)
    assert "imported" not in again.counts
    assert again.counts["unchanged"] == 0  # files already handled are skipped unread
    assert len(ledger_rows(db)) == FILES
    assert pair_count(db) == FILES


YEAR_2000 = datetime(2000, 1, 1, tzinfo=UTC).timestamp()


def _fixed_width_version(question: str) -> bytes:
    return qa_document(question).ljust(200)


def test_new_version_with_same_size_and_mtime_dropped_while_stopped_is_imported_at_start(
    settings: Settings,
    db: Database,
    start_and_catch_up: Callable[[], Daemon],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    target = settings.root_path / "outbox/droid/fixed_qa_pairs.json"
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    old, new = "Version one: what is the NUPL?", "Version two: what is the RHODL?"

    def move_in(question: str) -> None:
        staged = elsewhere / "fixed_qa_pairs.json"
        staged.write_bytes(_fixed_width_version(question))
        os.utime(staged, (YEAR_2000, YEAR_2000))
        os.rename(staged, target)

    assert len(_fixed_width_version(old)) == len(_fixed_width_version(new))
    first = start_and_catch_up()
    move_in(old)
    wait_for(lambda: has_question(db, old), timeout=5, what="the first version")
    first.stop()
    move_in(new)  # while stopped: same name, same size, same mtime, new content

    again = start_and_catch_up()
    assert again.join(10)
    assert has_question(db, new), "the new version was never read"
