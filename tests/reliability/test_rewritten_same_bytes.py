"""Issue 14, point 5: a file rewritten in place with the same bytes is read once, then left
alone. The ledger learns the file's new size and mtime when its content matched, so the next
rescan skips it by its (size, mtime) without reading it again."""

from __future__ import annotations

import os
from collections.abc import Callable

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from tests.reliability.probes import has_question, ledger_rows, qa_document
from tests.support import wait_for

REL = "outbox/droid/obv_rewritten.json"
QUESTION = "Rewritten in place: what does on-balance volume add to price?"


def test_a_file_rewritten_with_the_same_bytes_is_not_read_again_by_each_rescan(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    target = settings.root_path / REL
    target.write_bytes(qa_document(QUESTION))
    wait_for(lambda: has_question(db, QUESTION), timeout=5, what="the first import")
    assert daemon.join(5)
    first_mtime = target.stat().st_mtime_ns

    target.write_bytes(target.read_bytes())  # the same bytes: a new mtime and ctime
    assert target.stat().st_mtime_ns != first_mtime
    wait_for(
        lambda: ledger_rows(db, REL)[0].seen_count == 2, timeout=5, what="the sighting counted"
    )
    assert daemon.join(5)
    unchanged = daemon.counts["unchanged"]

    for _ in range(3):  # the periodic rescans of a running daemon
        queued = daemon.rescan(reason="test")
        assert queued == 0, (
            f"rescan queued {queued} file(s): the rewritten file is read again at every rescan"
        )
        assert daemon.join(5)
    assert daemon.counts["unchanged"] == unchanged
    [row] = ledger_rows(db, REL)
    assert (row.outcome, row.seen_count) == ("imported", 2)


def test_a_touched_file_is_skipped_by_the_next_start(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    """The same at a restart: the catch-up scan skips what the last run saw unchanged."""
    daemon = start_daemon()
    target = settings.root_path / REL
    target.write_bytes(qa_document(QUESTION))
    wait_for(lambda: has_question(db, QUESTION), timeout=5, what="the first import")
    assert daemon.join(5)
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    assert daemon.rescan(reason="test") == 1  # a new mtime: read once, found unchanged
    wait_for(lambda: ledger_rows(db, REL)[0].seen_count == 2, timeout=5, what="the sighting")
    assert daemon.join(5)

    restarted = start_daemon()  # a second daemon on the same tree: its catch-up scan
    assert restarted.join(5)
    assert restarted.counts["unchanged"] == 0, "the catch-up scan read the touched file again"
    assert ledger_rows(db, REL)[0].seen_count == 2
