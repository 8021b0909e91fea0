"""A file seen again with unchanged content is read once; the next rescan skips it unread.

When a file's content matches its ledger row, the row learns the file's size, mtime and ctime
as seen now, so the next catch-up scan finds them equal and neither reads nor hashes it. ctime
is part of the test because mtime can be set back (``os.utime``, ``touch -d``, ``cp -p``) and
ctime cannot, and it is compared as recorded, never against the daemon's clock (a file server's
or another host's clock may differ).

Each "rescan" here is a real start of the daemon (its catch-up scan, then the worker), stopped
before the test touches the file so that only the next start's scan sees the change. Hashing
is counted by wrapping the pipeline's hash function in-process: every small file read is
hashed exactly once.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from daemon.config import Settings
from daemon.ingest import ledger, pipeline, reading
from daemon.live.service import Daemon
from daemon.store.engine import Database
from daemon.store.models import FileRecord, utcnow
from tests.reliability.probes import has_question, ledger_rows, pair_count, qa_document

REL = "outbox/droid/nvt_qa_pairs.json"
FIRST = "Version one: what does the NVT ratio measure?"
SECOND = "Version two: what does the RVT ratio measure?"  # the same length as FIRST
AN_HOUR = timedelta(hours=1)


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times the pipeline hashed each content, by its digest."""
    counts: Counter[str] = Counter()
    real = reading.sha256

    def counting(data: bytes) -> str:
        digest = real(data)
        counts[digest] += 1
        return digest

    monkeypatch.setattr(reading, "sha256", counting)
    return counts


@pytest.fixture
def rescan(start_daemon: Callable[..., Daemon]) -> Callable[..., Daemon]:
    """A start of the daemon: its catch-up scan and every file it queued handled, then a stop
    (the test's own writes are then seen by the next start's scan, not by the watcher)."""

    def start_scan_stop(**overrides: Any) -> Daemon:
        daemon = start_daemon(**overrides)
        assert daemon.join(10)
        daemon.stop(timeout=10)
        assert daemon.counts["worker_error"] == 0
        return daemon

    return start_scan_stop


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _recorded_stat(db: Database) -> tuple[int, int | None, int | None]:
    """The (size, mtime_ns, ctime_ns) the ledger holds for the file's latest reading."""
    with db.reader() as db_session:
        row = db_session.execute(
            select(FileRecord.size, FileRecord.mtime_ns, FileRecord.ctime_ns)
            .where(FileRecord.rel_path == REL)
            .order_by(FileRecord.id.desc())
        ).first()
    assert row is not None
    return (row.size, row.mtime_ns, row.ctime_ns)


def _rewrite(target: Path, data: bytes, *, mtime_ns: int | None = None) -> os.stat_result:
    """Write ``data`` over the file in place (same inode); set its mtime back if asked."""
    before = target.stat()
    with open(target, "r+b") as handle:
        handle.truncate(0)
        handle.write(data)
    if mtime_ns is not None:
        os.utime(target, ns=(before.st_atime_ns, mtime_ns))
    after = target.stat()
    assert after.st_ino == before.st_ino
    assert after.st_ctime_ns != before.st_ctime_ns, "the file system did not move ctime"
    return after


def _skew_daemon_clock(monkeypatch: pytest.MonkeyPatch, offset: timedelta) -> None:
    """Every time the daemon records in the ledger is off by ``offset`` from the file
    system's clock (a file server's, or another host's on a shared database)."""

    def skewed() -> datetime:
        return utcnow() + offset

    monkeypatch.setattr(ledger, "utcnow", skewed)
    monkeypatch.setattr(pipeline, "utcnow", skewed)


def test_same_bytes_rewritten_in_place_are_hashed_once_then_skipped_by_stat(
    settings: Settings, db: Database, hashed: Counter[str], rescan: Callable[..., Daemon]
) -> None:
    target = settings.root_path / REL
    content = qa_document(FIRST)
    target.write_bytes(content)
    assert rescan().counts["imported"] == 1
    assert hashed[_digest(content)] == 1

    now = _rewrite(target, content)
    seen = rescan()
    assert hashed[_digest(content)] == 2, "the rewritten file was not read again"
    assert (seen.counts["unchanged"], seen.counts["imported"]) == (1, 0)
    assert _recorded_stat(db) == (now.st_size, now.st_mtime_ns, now.st_ctime_ns)

    for _ in range(2):
        again = rescan()
        assert hashed[_digest(content)] == 2, "the unchanged file was hashed again"
        assert again.counts["unchanged"] == 0
    [row] = ledger_rows(db, REL)
    assert (row.outcome, row.seen_count, pair_count(db)) == ("imported", 2, 1)


def test_same_bytes_with_mtime_set_back_are_hashed_once_more_and_not_imported_twice(
    settings: Settings, db: Database, hashed: Counter[str], rescan: Callable[..., Daemon]
) -> None:
    """Size and mtime as before, ctime not: read once to find the content unchanged."""
    target = settings.root_path / REL
    content = qa_document(FIRST)
    target.write_bytes(content)
    rescan()
    first = target.stat()

    now = _rewrite(target, content, mtime_ns=first.st_mtime_ns)
    assert (now.st_size, now.st_mtime_ns) == (first.st_size, first.st_mtime_ns)
    assert rescan().counts["unchanged"] == 1
    assert hashed[_digest(content)] == 2
    assert _recorded_stat(db) == (now.st_size, now.st_mtime_ns, now.st_ctime_ns)

    rescan()
    assert hashed[_digest(content)] == 2, "the unchanged file was hashed again"
    [row] = ledger_rows(db, REL)
    assert (row.outcome, row.seen_count, pair_count(db)) == ("imported", 2, 1)


def test_new_bytes_of_the_same_size_and_mtime_are_imported_as_a_new_delivery(
    settings: Settings, db: Database, hashed: Counter[str], rescan: Callable[..., Daemon]
) -> None:
    """Only ctime tells this version from the last: it is read, hashed and imported."""
    target = settings.root_path / REL
    old, new = qa_document(FIRST), qa_document(SECOND)
    assert len(old) == len(new)
    target.write_bytes(old)
    rescan()
    first = target.stat()

    _rewrite(target, new, mtime_ns=first.st_mtime_ns)
    assert rescan().counts["imported"] == 1
    assert has_question(db, SECOND)
    assert [(r.sha256, r.outcome) for r in ledger_rows(db, REL)] == [
        (_digest(old), "imported"),
        (_digest(new), "imported"),
    ]

    rescan()
    assert (hashed[_digest(old)], hashed[_digest(new)]) == (1, 1)


def test_a_daemon_clock_behind_the_file_system_does_not_make_every_rescan_hash_again(
    settings: Settings,
    hashed: Counter[str],
    rescan: Callable[..., Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file's ctime later than the daemon's record of reading it is no reason to read it."""
    _skew_daemon_clock(monkeypatch, -AN_HOUR)
    target = settings.root_path / REL
    content = qa_document(FIRST)
    target.write_bytes(content)
    rescan()
    for _ in range(2):
        assert rescan().counts["unchanged"] == 0
    assert hashed[_digest(content)] == 1


def test_a_daemon_clock_ahead_of_the_file_system_does_not_hide_a_new_version(
    settings: Settings,
    db: Database,
    rescan: Callable[..., Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new version with the old size and mtime is read however far ahead the clock is."""
    _skew_daemon_clock(monkeypatch, AN_HOUR)
    target = settings.root_path / REL
    target.write_bytes(qa_document(FIRST))
    rescan()

    _rewrite(target, qa_document(SECOND), mtime_ns=target.stat().st_mtime_ns)
    assert rescan().counts["imported"] == 1
    assert has_question(db, SECOND), "the new version was skipped unread"


def test_a_row_from_before_ctime_was_recorded_is_not_read_again_after_the_upgrade(
    settings: Settings, db: Database, hashed: Counter[str], rescan: Callable[..., Daemon]
) -> None:
    """Rows written before migration 0006 hold no ctime: the first start after the upgrade
    does not read the whole tree again (such a row is judged by the time it was read)."""
    target = settings.root_path / REL
    content = qa_document(FIRST)
    target.write_bytes(content)
    rescan()
    with db.transaction() as db_session:
        db_session.execute(update(FileRecord).values(ctime_ns=None))

    assert rescan().counts["unchanged"] == 0
    assert hashed[_digest(content)] == 1

    _rewrite(target, content)  # a rewrite after its reading: read once, then known by ctime
    assert rescan().counts["unchanged"] == 1
    rescan()
    assert hashed[_digest(content)] == 2
    assert _recorded_stat(db)[2] == target.stat().st_ctime_ns


def test_a_file_refused_unread_is_taken_once_after_a_change_of_ctime_alone(
    settings: Settings, db: Database, rescan: Callable[..., Daemon]
) -> None:
    """An over-size file is known by a stand-in digest of its path, size and mtime: after a
    chmod (a new ctime, nothing else) it is looked at once again, then skipped by stat."""
    target = settings.root_path / REL
    target.write_bytes(qa_document(FIRST))
    capped = {"max_file_bytes": 64}

    assert rescan(**capped).counts["rejected"] == 1
    before = target.stat()
    target.chmod(0o600)
    assert target.stat().st_ctime_ns != before.st_ctime_ns
    assert rescan(**capped).counts["rejected"] == 1
    assert rescan(**capped).counts["rejected"] == 0, "taken again at every rescan"
    [row] = ledger_rows(db, REL)
    assert row.outcome == "rejected"
    assert _recorded_stat(db)[2] == target.stat().st_ctime_ns
