"""An inotify overflow is answered by a rescan once watchdog has put its watches back too.

On an overflow watchdog (7.1.1) first logs it, then takes its watches off and adds them again,
then reports an ``EventsLostEvent``. A file made while the watches are away sends no event,
and a rescan asked for by the log record alone may have looked before the file existed. Here
watchdog's rebuild waits for that first rescan to end, a file arrives with its events lost,
and only then are the watches put back: the rescan at the ``EventsLostEvent`` must find it.

The overflow is the kernel's report as watchdog's reader thread hands it on: the bytes of an
``IN_Q_OVERFLOW`` event on the raw queue its dispatcher thread reads.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from watchdog.observers.inotify import InotifyEmitter, InotifyObserver
from watchdog.observers.inotify_c import InotifyConstants

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from tests.reliability.probes import (
    drop_events_of,
    ledger_rows,
    qa_document,
    write_then_rename,
)
from tests.support import wait_for

GAP_REL = "outbox/droid/gap_qa_pairs.json"
# struct inotify_event: wd -1 (no watch), mask IN_Q_OVERFLOW, cookie 0, no name
OVERFLOW_EVENT = struct.pack("iIII", -1, int(InotifyConstants.IN_Q_OVERFLOW), 0, 0)


def test_a_file_made_while_watchdog_puts_its_watches_back_is_found_by_a_rescan(
    settings: Settings,
    db: Database,
    start_daemon: Callable[..., Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    daemon = start_daemon()
    observer = daemon._observer
    assert isinstance(observer, InotifyObserver) and observer._inotify_fd is not None
    [outbox] = [
        emitter._inotify
        for emitter in observer.emitters
        if isinstance(emitter, InotifyEmitter) and emitter.watch.path.endswith("outbox")
    ]
    assert outbox is not None
    put_back = outbox.on_queue_overflow
    before = daemon._last_rescan

    def put_back_late() -> None:  # on watchdog's dispatcher thread, after its log record
        wait_for(
            lambda: daemon._last_rescan != before,
            timeout=10,
            what="the rescan the log record asked for",
        )
        write_then_rename(settings.root_path / GAP_REL, qa_document("Made in the gap?"))
        put_back()

    drop_events_of(monkeypatch, daemon, "gap_")  # no watch: no event
    monkeypatch.setattr(outbox, "on_queue_overflow", put_back_late)
    observer._inotify_fd._raw_queue.put(OVERFLOW_EVENT)
    wait_for(lambda: ledger_rows(db, GAP_REL), timeout=10, what="the file made in the gap")
    assert daemon.join(10)
    assert [(r.outcome, r.pairs_stored) for r in ledger_rows(db, GAP_REL)] == [("imported", 1)]
