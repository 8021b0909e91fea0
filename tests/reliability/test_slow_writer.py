"""Scenario 2: a slow writer (a 10 MB JSON Lines file in 10 bursts, the file held open the
whole time) is never imported half-written, and is imported once when complete.

With inotify the open file is what protects: its writer has not closed it, so pauses longer
than the settle time do not make it look finished. Polling sees no open or close events; there
only the stability window (size and mtime unchanged for the settle time) protects, so the
polling writer's bursts come faster than the settle time.

Two more ways a writer's open file is taken half-written: the same name opened again for
writing while the close event of its previous version waits in the queue, and the rescan that
answers an inotify overflow. And the overflow's other edge: a file the writer opened just
before it must still be taken once closed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from watchdog.events import FileSystemEvent

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.live.watcher import OVERFLOW_MESSAGE, WATCHDOG_INOTIFY_LOGGER
from daemon.store.engine import Database
from tests.reliability.probes import (
    distinct_question_count,
    ledger_rows,
    pair_count,
    write_then_rename,
)
from tests.support import wait_for

REL = "outbox/droid/slow_qa_pairs.jsonl"
BURSTS = 10
PAIRS_PER_BURST = 500  # ~2 KB a pair: ~1 MB a burst, ~10 MB in all
FILLER = "The long explanation goes on. " * 64
SLOW_PAUSE = 0.4  # twice the settle time (0.2 s in the settings fixture)
POLLING_SETTLE = 0.5  # polling: a generous window, so a busy machine cannot open a gap
FAST_PAUSE = 0.05  # polling: bursts come well within the settle window
REWRITE_REL = "outbox/droid/rewrite_qa_pairs.jsonl"
BUSY_REL = "outbox/droid/busy_qa_pairs.jsonl"
OVERFLOW_REL = "outbox/droid/overflow_qa_pairs.jsonl"
OPENED_REL = "outbox/droid/opened_qa_pairs.jsonl"


def _bursts() -> list[bytes]:
    """Built before the writer starts, so the pauses between bursts are what the test says."""
    bursts = []
    for n in range(BURSTS):
        lines = []
        for i in range(n * PAIRS_PER_BURST, (n + 1) * PAIRS_PER_BURST):
            lines.append(
                json.dumps(
                    {
                        "question": f"Slow writer question {i}: what is it?",
                        "answer": f"Answer {i}. {FILLER}",
                    }
                )
            )
        bursts.append(("\n".join(lines) + "\n").encode())
    return bursts


def _jsonl(tag: str, count: int) -> bytes:
    return "".join(
        json.dumps({"question": f"{tag} question {i}?", "answer": f"{tag} answer {i}."}) + "\n"
        for i in range(count)
    ).encode()


def _half(data: bytes) -> int:
    """Where the first half of the lines ends (each line whole)."""
    return data.rindex(b"\n", 0, len(data) // 2) + 1


def _write_slowly(target: Path, db: Database, pause: float) -> None:
    """Write every burst into one open file, flushed and fsynced, pausing after each; after
    each pause nothing of the file may be in the ledger or the pairs."""
    bursts = _bursts()
    assert sum(len(b) for b in bursts) > 10_000_000
    with open(target, "wb") as handle:
        for n, burst in enumerate(bursts, 1):
            handle.write(burst)
            handle.flush()
            os.fsync(handle.fileno())
            time.sleep(pause)  # the scenario is a writer's pause
            assert ledger_rows(db, REL) == [], f"taken half-written after burst {n}/{BURSTS}"
            assert pair_count(db) == 0, f"pairs stored half-written after burst {n}/{BURSTS}"


def _assert_imported_once(daemon: Daemon, db: Database) -> None:
    total = BURSTS * PAIRS_PER_BURST
    wait_for(lambda: ledger_rows(db, REL), timeout=30, what="the complete file to be imported")
    assert daemon.join(30)
    rows = ledger_rows(db, REL)
    assert [(r.outcome, r.pairs_stored) for r in rows] == [("imported", total)]
    assert pair_count(db) == total
    assert distinct_question_count(db) == total
    assert daemon.counts["imported"] == 1
    assert daemon.counts["worker_error"] == 0


def test_inotify_writer_pausing_longer_than_settle_is_imported_once_after_close(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    _write_slowly(settings.root_path / REL, db, SLOW_PAUSE)
    _assert_imported_once(daemon, db)


def test_polling_writer_with_bursts_faster_than_settle_is_imported_once_complete(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon(polling=True, settle_seconds=POLLING_SETTLE)
    assert FAST_PAUSE < POLLING_SETTLE
    _write_slowly(settings.root_path / REL, db, FAST_PAUSE)
    _assert_imported_once(daemon, db)


def test_file_reopened_for_writing_while_its_close_event_waits_is_not_taken_half_written(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    root = settings.root_path
    # a large import keeps the worker busy, so the close event below waits in the queue
    write_then_rename(root / BUSY_REL, _jsonl("Busy", 5_000))
    wait_for(
        lambda: any(settings.archive_dir.rglob("*.jsonl")),
        timeout=5,
        what="the busy import to begin",
    )
    target = root / REWRITE_REL
    target.write_bytes(_jsonl("First version", 10))  # closed after writing: an arrival
    second = _jsonl("Second version", 1_000)
    cut = _half(second)
    with open(target, "wb") as handle:  # ...and at once rewritten, slowly
        handle.write(second[:cut])
        handle.flush()
        os.fsync(handle.fileno())
        wait_for(lambda: ledger_rows(db, BUSY_REL), timeout=20, what="the busy import to end")
        time.sleep(SLOW_PAUSE)  # the writer pauses longer than the settle time
        assert ledger_rows(db, REWRITE_REL) == [], "taken while its writer held it open"
        handle.write(second[cut:])
    wait_for(lambda: ledger_rows(db, REWRITE_REL), timeout=10, what="the second version")
    assert daemon.join(10)
    assert [(r.outcome, r.pairs_stored) for r in ledger_rows(db, REWRITE_REL)] == [
        ("imported", 1_000)
    ]


def test_slow_writer_is_not_taken_half_written_by_the_rescan_after_an_overflow(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    data = _jsonl("Overflow", 1_000)
    cut = _half(data)
    with open(settings.root_path / OVERFLOW_REL, "wb") as handle:
        handle.write(data[:cut])
        handle.flush()
        os.fsync(handle.fileno())
        time.sleep(SLOW_PAUSE)  # the writer pauses longer than the settle time...
        last_rescan = daemon._last_rescan
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).warning(
            "%s; filesystem events were lost", OVERFLOW_MESSAGE
        )  # ...and events are lost
        wait_for(
            lambda: daemon._last_rescan != last_rescan,
            timeout=5,
            what="the rescan after the overflow",
        )
        time.sleep(SLOW_PAUSE)  # still pausing (a wrong import is also caught at the end)
        assert ledger_rows(db, OVERFLOW_REL) == [], "taken while its writer held it open"
        handle.write(data[cut:])
    wait_for(lambda: ledger_rows(db, OVERFLOW_REL), timeout=10, what="the complete file")
    assert daemon.join(10)
    assert [(r.outcome, r.pairs_stored) for r in ledger_rows(db, OVERFLOW_REL)] == [
        ("imported", 1_000)
    ]


def test_a_file_opened_as_an_overflow_is_answered_is_taken_once_closed(
    settings: Settings,
    db: Database,
    start_daemon: Callable[..., Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/proc shows the file open when the overflow is answered, while its open event is still
    on its way through watchdog: the file must not count as opened twice (after its close it
    would look open for ever, and never be taken)."""
    daemon = start_daemon()
    events_may_pass = threading.Event()
    real_dispatch = type(daemon._handler).dispatch

    def held_back(self: object, event: FileSystemEvent) -> None:
        events_may_pass.wait(timeout=20)  # on watchdog's thread: later events queue behind
        real_dispatch(self, event)  # type: ignore[arg-type]

    monkeypatch.setattr(type(daemon._handler), "dispatch", held_back)
    try:
        with open(settings.root_path / OPENED_REL, "wb") as handle:
            handle.write(_jsonl("Opened", 10))
            handle.flush()
            logging.getLogger(WATCHDOG_INOTIFY_LOGGER).warning(
                "%s; filesystem events were lost", OVERFLOW_MESSAGE
            )  # answered here: /proc is read while this file is open
    finally:
        events_may_pass.set()  # its open event, then its close, reach the handler now
    wait_for(lambda: ledger_rows(db, OPENED_REL), timeout=10, what="the closed file")
    assert daemon.join(10)
    assert [(r.outcome, r.pairs_stored) for r in ledger_rows(db, OPENED_REL)] == [("imported", 10)]
