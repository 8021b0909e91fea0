"""The ledger: the single source of truth for "was this file handled".

Keyed by (path relative to the root, SHA-256 of the content): the same content seen again is
skipped and counted; new content at the same path is a new file. Events, restarts and
several daemons on one database therefore never import twice.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, case, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from daemon.store.models import FileRecord, utcnow

if TYPE_CHECKING:
    from daemon.ingest.delivery import Delivery
    from daemon.ingest.importers.base import ImportResult

RETRYABLE = ("rejected", "failed")  # outcomes ``inboxd retry`` runs again


class Known(NamedTuple):
    """What the pipeline needs of a ledger row it finds (a plain row, not an ORM object)."""

    id: int
    outcome: str
    kind: str | None


# built once: find runs for every file, and building a statement costs more than running it
_FIND = select(FileRecord.id, FileRecord.outcome, FileRecord.kind).where(
    FileRecord.rel_path == bindparam("rel_path"), FileRecord.sha256 == bindparam("sha256")
)
_FILES = cast(Table, FileRecord.__table__)  # SQLAlchemy types ``__table__`` loosely
_CLAIM = insert(_FILES)
_SETTLE = update(_FILES).where(FileRecord.id == bindparam("record_id"))
_LATEST = select(func.max(FileRecord.id))


def find(db_session: Session, rel_path: str, sha256: str) -> Known | None:
    """The ledger row of this content at this path, if it was handled."""
    row = db_session.connection().execute(_FIND, {"rel_path": rel_path, "sha256": sha256}).first()
    return Known(*row) if row is not None else None


_FIND_AT_PATHS = select(
    FileRecord.rel_path, FileRecord.sha256, FileRecord.id, FileRecord.outcome, FileRecord.kind
).where(FileRecord.rel_path.in_(bindparam("paths", expanding=True)))
FIND_CHUNK = 500  # paths per query: far below any database's limit on parameters


def find_many(db_session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Known]:
    """``find`` for several (path, SHA-256) at once: the rows of these paths, one query per
    500 paths (by the unique index's first column), those of the wanted content kept."""
    wanted = set(keys)
    paths = sorted({path for path, _digest in wanted})
    connection = db_session.connection()
    found: dict[tuple[str, str], Known] = {}
    for start in range(0, len(paths), FIND_CHUNK):
        chunk = {"paths": paths[start : start + FIND_CHUNK]}
        for path, digest, record_id, outcome, kind in connection.execute(_FIND_AT_PATHS, chunk):
            if (path, digest) in wanted:
                found[(path, digest)] = Known(record_id, outcome, kind)
    return found


def claim(db_session: Session, fields: dict[str, Any]) -> int:
    """Insert a ledger row (Core: no ORM bookkeeping per file); its id.

    Raises IntegrityError when the (path, content) is claimed already (another daemon).
    """
    key = db_session.connection().execute(_CLAIM, fields).inserted_primary_key
    assert key is not None  # an INSERT of one row always has one
    return int(key[0])


def pending_row(delivery: Delivery, kind: str | None, root: Path) -> dict[str, Any]:
    """A new ledger row for a delivery, pending until its outcome is settled."""
    archived = delivery.archived
    return dict(
        agent=delivery.where.agent,
        box=delivery.where.box,
        rel_path=delivery.rel_root,
        sha256=delivery.digest,
        size=delivery.size,
        mtime_ns=delivery.mtime_ns,
        ctime_ns=delivery.ctime_ns,
        kind=kind,
        outcome="pending",
        pairs_delivered=0,
        pairs_stored=0,
        pairs_duplicate=0,
        pairs_skipped=0,
        pairs_filtered=0,
        pairs_near_duplicate=0,
        archive_path=str(archived.relative_to(root)) if archived else None,
        processed_at=utcnow(),
        seen_count=1,
    )


def record_unimported(
    db_session: Session,
    delivery: Delivery,
    root: Path,
    *,
    kind: str | None,
    outcome: str,
    reason: str | None,
) -> None:
    """Record a rejected or failed file, once: a rescan then skips it like any handled file.

    Found recorded already (a file refused unread, known by a stand-in digest, whose ctime
    alone changed; or another daemon first), it is a sighting: the row learns the stat.
    """
    known = find(db_session, delivery.rel_root, delivery.digest)
    if known is not None:
        seen_again(db_session, known.id, delivery, utcnow())
        return
    claim(db_session, pending_row(delivery, kind, root) | {"outcome": outcome, "reason": reason})


def settle(db_session: Session, record_id: int, result: ImportResult) -> None:
    """Mark a claimed row imported, with its counts, in the transaction that claimed it."""
    db_session.connection().execute(
        _SETTLE,
        {
            "record_id": record_id,
            "outcome": "imported",
            "pairs_delivered": result.delivered,
            "pairs_stored": result.stored,
            "pairs_duplicate": result.duplicate,
            "pairs_skipped": result.skipped,
            "pairs_filtered": result.filtered,
            "pairs_near_duplicate": result.near_duplicate,
            "details": result.details,
        },
    )


def latest_id(db_session: Session) -> int | None:
    """The newest row's id: it changes whenever any daemon or command handles a new file."""
    return db_session.execute(_LATEST).scalar()


def seen_again(db_session: Session, record_id: int, delivery: Delivery, now: datetime) -> None:
    """Count a sighting of content already handled (a repeated event, a copy back, a rescan).

    The row learns the file's size, mtime and ctime as seen now: a file rewritten (or touched)
    with the same bytes is then skipped by the next rescan unread (``read_already``), not
    hashed again at every one.
    """
    db_session.execute(
        update(FileRecord)
        .where(FileRecord.id == record_id)
        .values(
            seen_count=FileRecord.seen_count + 1,
            last_seen_at=now,
            size=delivery.size,
            mtime_ns=delivery.mtime_ns,
            ctime_ns=delivery.ctime_ns,
        )
    )


def forget_rejection(db_session: Session, rel_path: str, sha256: str) -> None:
    """Let this content at this path be processed again if it was rejected or failed
    (``inboxd retry``); an imported record stays, so the claim that follows finds it."""
    db_session.execute(
        delete(FileRecord).where(
            FileRecord.rel_path == rel_path,
            FileRecord.sha256 == sha256,
            FileRecord.outcome.in_(RETRYABLE),
        )
    )


def retryable_paths(db_session: Session) -> list[str]:
    """Every path (relative to the root) with a rejected or failed record: ``retry --rejected``."""
    return list(
        db_session.scalars(select(FileRecord.rel_path).where(FileRecord.outcome.in_(RETRYABLE)))
    )


_LATER = aliased(FileRecord, name="later")
# A rejected (or failed) file that still needs a person: no later record of its path (a new
# version imported since, or a retry) has taken its place. One condition, for one query.
STILL_REJECTED = (
    FileRecord.outcome.in_(RETRYABLE),
    ~exists().where(_LATER.rel_path == FileRecord.rel_path, _LATER.id > FileRecord.id),
)


HandledKey = tuple[str, int, int | None]  # (rel_path, size, mtime_ns)
# (ctime_ns as last read, None on a row from before 0006; for such a row only: when it was
# last read, epoch seconds)
Reading = tuple[int | None, float | None]
_EPOCH = datetime(1970, 1, 1)  # naive UTC, as processed_at is stored


# when a row's version was last read: handled, or seen again unchanged (``seen_again``)
_LAST_READ = case(
    (FileRecord.last_seen_at > FileRecord.processed_at, FileRecord.last_seen_at),
    else_=FileRecord.processed_at,
)
# the time of reading only where there is no ctime: a date costs more to read than the row
_VERSIONS = select(
    FileRecord.rel_path,
    FileRecord.size,
    FileRecord.mtime_ns,
    FileRecord.ctime_ns,
    case((FileRecord.ctime_ns.is_(None), _LAST_READ)),
).order_by(_LAST_READ)


def handled_versions(db_session: Session) -> dict[HandledKey, Reading]:
    """(rel_path, size, mtime_ns) -> the file's last reading at that size and mtime.

    Only the latest reading describes the file as it is (the rows are taken in that order, the
    latest winning). ``read_already`` judges a file by it.

    This reads the whole ledger at each start, so it is kept lean: Core rows (not ORM
    objects), a time of reading only for rows without a ctime, its epoch taken by subtraction
    (the same float as ``replace(tzinfo=UTC).timestamp()``, cheaper).
    """
    rows = db_session.connection().execute(_VERSIONS).all()
    return {
        (rel_path, size, mtime_ns): (
            ctime_ns,
            None if read_at is None else (read_at - _EPOCH).total_seconds(),
        )
        for rel_path, size, mtime_ns, ctime_ns, read_at in rows
    }


def read_already(handled: dict[HandledKey, Reading], rel_path: str, stat: os.stat_result) -> bool:
    """Whether a rescan may skip this file unread: the version it last read, unwritten since.

    Size, mtime and ctime must be the ones recorded. Tools that keep or set back mtime
    (``cp -p``, ``rsync -t``, ``touch -d``) cannot keep ctime, and ctime is compared as recorded,
    not against a clock (a file server's or another host's may differ from ours). A row from
    before ctime was recorded (0006) is judged as then: its ctime no later than its reading.
    """
    reading = handled.get((rel_path, stat.st_size, stat.st_mtime_ns))
    if reading is None:
        return False
    ctime_ns, read_at = reading
    if ctime_ns is not None:
        return stat.st_ctime_ns == ctime_ns
    return read_at is not None and stat.st_ctime <= read_at
