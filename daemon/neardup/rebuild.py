"""``inboxd dedup --rebuild``: the pairs stored without a signature (before migration 0007,
an adopted database, imports under ``near_duplicate_policy = off``) indexed and marked.

One pass in id order, a chunk per transaction: each pair is compared with the indexed pairs
stored before it (a lower id) and with the chunk's earlier pairs, as if they had arrived in
that order. A pair with a signature is done; a killed run loses its open chunk only, and the
next run takes up from there with the same marks (the order and the comparisons are fixed).
Each chunk's pairs join the process's index once committed (``index``): the search reads
nothing but the candidates' text.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.neardup.detector import Detector
from daemon.neardup.index import Added, shared_index
from daemon.neardup.matcher import mark, record, search
from daemon.store.engine import Database
from daemon.store.models import NearSignature, QAPairRow

Progress = Callable[[int, int], None]

_UNINDEXED = (
    select(QAPairRow.qa_id, QAPairRow.question, QAPairRow.answer, QAPairRow.indicator_name)
    .outerjoin(NearSignature, NearSignature.qa_id == QAPairRow.qa_id)
    .where(NearSignature.qa_id.is_(None), QAPairRow.qa_id > bindparam("after"))
    .order_by(QAPairRow.qa_id)
    .limit(bindparam("chunk"))
)


@dataclass(frozen=True)
class Rebuilt:
    indexed: int  # pairs given a signature by this run
    marked: int  # of which near-duplicates
    total_indexed: int  # pairs in the index now


def unindexed(db: Database) -> int:
    """How many stored pairs have no signature yet."""
    with db.reader() as session:
        query = (
            select(func.count())
            .select_from(QAPairRow)
            .outerjoin(NearSignature, NearSignature.qa_id == QAPairRow.qa_id)
            .where(NearSignature.qa_id.is_(None))
        )
        return int(session.execute(query).scalar_one())


def rebuild(db: Database, settings: Settings, progress: Progress | None = None) -> Rebuilt:
    detector = Detector.from_settings(settings)
    total = unindexed(db)
    after, indexed, marked, chunks = 0, 0, 0, 0
    index = shared_index(db.engine)
    while True:
        with db.transaction() as session:
            done = _chunk(session, detector, after, settings.near_duplicate_rebuild_chunk)
            chunks += 1
            if settings.crash_at == f"rebuild-chunk-{chunks}":  # test-only: kill -9 here
                os.kill(os.getpid(), signal.SIGKILL)
        if done is None:
            break
        after, count, chunk_marked, added = done
        index.add(added)  # committed: searchable from now
        indexed += count
        marked += chunk_marked
        if progress:
            progress(indexed, max(total, indexed))
    with db.reader() as session:
        in_index = int(
            session.execute(select(func.count()).select_from(NearSignature)).scalar_one()
        )
    return Rebuilt(indexed, marked, in_index)


def _chunk(
    db_session: Session, detector: Detector, after: int, chunk: int
) -> tuple[int, int, int, Added] | None:
    """Index and mark the next chunk: (its last id, pairs indexed, marked, what goes into the
    index once committed), None when done."""
    connection = db_session.connection()
    rows = connection.execute(_UNINDEXED, {"after": after, "chunk": chunk}).all()
    if not rows:
        return None
    ids = [row.qa_id for row in rows]
    texts = [(row.question, row.answer, row.indicator_name) for row in rows]
    prints, matches = search(db_session, detector, texts, own_ids=ids)
    added = record(connection, ids, prints)
    return ids[-1], len(ids), mark(connection, ids, matches), added
