"""A dead watcher thread is noticed, the observer restarted and followed by a rescan; nothing
is missed.

Every event passes through three kinds of watchdog thread: the inotify reader, an emitter
(one a watched folder), and the observer's own, which calls the handler. When any of them
dies the others go on waiting, and events are lost without a word. A file its writer closed
in that time sent a close nobody read: it must still be taken once the observer is back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify import InotifyObserver

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.live.watcher import dead_thread
from daemon.store.engine import Database
from tests.reliability.probes import ledger_rows, qa_document
from tests.support import deliver, wait_for

HELD_REL = "outbox/droid/held_qa_pairs.json"
ARRIVED_REL = "outbox/droid/session_02/ema_qa_pairs.json"
AFTER_REL = "outbox/droid/session_02/sma_qa_pairs.json"


def _stop_observer(observer: BaseObserver) -> None:
    observer.stop()
    observer.join(5)


def _stop_emitter(observer: BaseObserver) -> None:
    [emitter] = [e for e in observer.emitters if e.watch.path.endswith("outbox")]
    emitter.stop()
    emitter.join(5)


def _stop_reader(observer: BaseObserver) -> None:
    assert isinstance(observer, InotifyObserver) and observer._inotify_fd is not None
    observer._inotify_fd.stop()
    observer._inotify_fd.join(5)


STOPS: dict[str, Callable[[BaseObserver], None]] = {
    "observer": _stop_observer,
    "emitter": _stop_emitter,
    "inotify reader": _stop_reader,
}


@pytest.mark.parametrize("thread", list(STOPS))
def test_a_dead_watcher_thread_is_noticed_and_nothing_is_missed(
    thread: str,
    settings: Settings,
    db: Database,
    start_daemon: Callable[..., Daemon],
    json_logs: Path,
) -> None:
    daemon = start_daemon()
    dead = daemon._observer
    assert isinstance(dead, InotifyObserver)
    threads: list[threading.Thread] = [dead, *dead.emitters, *filter(None, [dead._inotify_fd])]
    held = settings.root_path / HELD_REL
    with open(held, "wb") as handle:
        handle.write(qa_document("Written while the watcher died?"))
        handle.flush()
        wait_for(lambda: daemon.open_files.is_open(held), 5, "the writer's open to be seen")
        STOPS[thread](dead)
        assert dead_thread(dead) is not None
    deliver(settings.root_path, ARRIVED_REL)
    wait_for(lambda: daemon._observer is not dead, 10, "a new observer")
    assert dead_thread(daemon._observer) is None
    for rel in (HELD_REL, ARRIVED_REL):
        wait_for(partial(ledger_rows, db, rel), 10, f"{rel}, closed or made meanwhile")
    events = [json.loads(line) for line in json_logs.read_text().splitlines()]
    assert [e["reason"] for e in events if e["event"] == "watcher.restarted"] == [
        f"{thread} thread died"
    ]
    # the old observer's threads are all stopped (its inotify instance given back)
    assert [t for t in threads if t.is_alive()] == []
    # the new observer sees new files by itself
    deliver(settings.root_path, AFTER_REL)
    wait_for(lambda: ledger_rows(db, AFTER_REL), 5, "a file after the restart")
    assert daemon.join(10)
    assert [r.outcome for r in ledger_rows(db)] == ["imported"] * 3
