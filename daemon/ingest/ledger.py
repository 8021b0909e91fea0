"""The ledger: the single source of truth for "was this file handled".

Keyed by (path relative to the root, SHA-256 of the content): the same content seen again is
skipped and counted; new content at the same path is a new file. Events, restarts and
several daemons on one database therefore never import twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from daemon.store.models import FileRecord


class Known(NamedTuple):
    """What the pipeline needs of a ledger row it finds (a plain row, not an ORM object)."""

    id: int
    outcome: str
    kind: str | None


# built once: find runs for every file, and building a statement costs more than running it
_FIND = select(FileRecord.id, FileRecord.outcome, FileRecord.kind).where(
    FileRecord.rel_path == bindparam("rel_path"), FileRecord.sha256 == bindparam("sha256")
)
_CLAIM = insert(FileRecord.__table__)
# the SET clause comes from the parameters given (compiled once per set of columns)
_SETTLE = update(FileRecord.__table__).where(FileRecord.id == bindparam("record_id"))
_LATEST = select(func.max(FileRecord.id))


def find(session: Session, rel_path: str, sha256: str) -> Known | None:
    """The ledger row of this content at this path, if it was handled."""
    row = session.connection().execute(_FIND, {"rel_path": rel_path, "sha256": sha256}).first()
    return Known(*row) if row is not None else None


def claim(session: Session, fields: dict[str, Any]) -> int:
    """Insert a ledger row (Core: no ORM bookkeeping per file); its id.

    Raises IntegrityError when the (path, content) is claimed already (another daemon).
    """
    result = session.connection().execute(_CLAIM, fields)
    return int(result.inserted_primary_key[0])


def settle(session: Session, record_id: int, fields: dict[str, Any]) -> None:
    """Write a claimed row's outcome and counts, in the transaction that claimed it."""
    session.connection().execute(_SETTLE, {"record_id": record_id, **fields})


def latest_id(session: Session) -> int | None:
    """The newest row's id: it changes whenever any daemon or command handles a new file."""
    return session.execute(_LATEST).scalar()


def seen_again(session: Session, record_id: int, now: datetime) -> None:
    """Count a sighting of content already handled (a repeated event, a copy back, a rescan)."""
    session.execute(
        update(FileRecord)
        .where(FileRecord.id == record_id)
        .values(seen_count=FileRecord.seen_count + 1, last_seen_at=now)
    )


def forget_rejection(session: Session, record_id: int) -> None:
    """Let a rejected or failed file be processed again (``inboxd retry``)."""
    session.execute(
        delete(FileRecord).where(
            FileRecord.id == record_id, FileRecord.outcome.in_(("rejected", "failed"))
        )
    )


_LATER = aliased(FileRecord, name="later")
# A rejected (or failed) file that still needs a person: no later record of its path (a new
# version imported since, or a retry) has taken its place. One condition, for one query.
STILL_REJECTED = (
    FileRecord.outcome.in_(("rejected", "failed")),
    ~exists().where(_LATER.rel_path == FileRecord.rel_path, _LATER.id > FileRecord.id),
)


HandledKey = tuple[str, int, int | None]  # (rel_path, size, mtime_ns)
_EPOCH = datetime(1970, 1, 1)  # naive UTC, as processed_at is stored


def handled_versions(session: Session) -> dict[HandledKey, float]:
    """(rel_path, size, mtime_ns) -> when that version was last handled (epoch seconds).

    A rescan skips a file without reading it only when its size and mtime match a handled
    version AND its ctime is not later than that handling: tools that keep mtime (cp -p,
    rsync -t, tar) cannot keep ctime, so a new version is always read.

    This reads the whole ledger at each start, so it is kept lean: four columns as Core rows
    (not ORM objects), the latest handling winning by the order of the rows, and the epoch
    taken by subtraction (the same float as ``replace(tzinfo=UTC).timestamp()``, 8x faster).
    """
    rows = (
        session.connection()
        .execute(
            select(
                FileRecord.rel_path, FileRecord.size, FileRecord.mtime_ns, FileRecord.processed_at
            ).order_by(FileRecord.processed_at)
        )
        .all()
    )
    return {
        (rel_path, size, mtime_ns): (processed_at - _EPOCH).total_seconds()
        for rel_path, size, mtime_ns, processed_at in rows
    }
