"""gemini's refinement results: quality score, tier and duplicate marks onto stored pairs.

A record naming a pair that is not stored (yet) is counted as unmatched and kept; it is
applied when that pair arrives, so the outcome does not depend on the order of arrival.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, false, or_, select, update
from sqlalchemy.orm import Session

from daemon.ingest.importers.base import ImportContext, ImportResult
from daemon.store.models import PendingRefinement, QAPairRow
from handlers.models import RefinementRecord, RefinementResults

CHUNK = 500


def _target(db_session: Session, record: RefinementRecord) -> int | None:
    """The qa_id a record names, if that pair is stored."""
    if record.qa_id is not None:
        return db_session.scalar(select(QAPairRow.qa_id).where(QAPairRow.qa_id == record.qa_id))
    return db_session.scalar(
        select(QAPairRow.qa_id).where(
            QAPairRow.question_key == record.question_key, QAPairRow.key_conflict == false()
        )
    )


def _score(db_session: Session, qa_id: int, record: RefinementRecord, now: datetime) -> None:
    values: dict[str, Any] = {"refined_at": now}
    if record.quality_score is not None:
        values["quality_score"] = record.quality_score
    if record.tier is not None:
        values["tier"] = record.tier
    if record.duplicate_of is not None:
        values["duplicate_of"] = record.duplicate_of
    if record.notes is not None:
        values["refinement_notes"] = record.notes
    db_session.execute(update(QAPairRow).where(QAPairRow.qa_id == qa_id).values(**values))


def apply(ictx: ImportContext, results: RefinementResults) -> ImportResult:
    result = ImportResult(
        delivered=len(results.records) + len(results.skipped),
        skipped=len(results.skipped),
        concerns={ictx.file.agent, ictx.settings.orchestrator},
    )
    unmatched: list[dict[str, Any]] = []
    scored = 0
    for record in results.records:
        qa_id = _target(ictx.db_session, record)
        if qa_id is None:
            unmatched.append(
                {"line": record.line, "qa_id": record.qa_id, "question_key": record.question_key}
            )
            ictx.db_session.add(
                PendingRefinement(
                    question_key=record.question_key,
                    qa_id=record.qa_id,
                    record=record.model_dump(),
                    file_id=ictx.file_id,
                    received_at=ictx.now,
                )
            )
            continue
        _score(ictx.db_session, qa_id, record, ictx.now)
        scored += 1
    result.details = {
        "scored": scored,
        "unmatched": len(unmatched),
        "unmatched_records": unmatched[:50],
        "skipped": [s.model_dump(exclude_none=True) for s in results.skipped[:50]],
    }
    return result


ANY_PENDING = select(PendingRefinement.id).limit(1)  # built once: asked for every file


def any_pending(db_session: Session) -> bool:
    return db_session.connection().scalar(ANY_PENDING) is not None


def apply_pending(db_session: Session, stored: Iterable[tuple[int, str]], now: datetime) -> int:
    """Apply waiting records to pairs just stored ((qa_id, question_key) each); returns count."""
    by_key = {key: qa_id for qa_id, key in stored}
    if not by_key or not any_pending(db_session):
        return 0
    keys, ids = list(by_key), list(by_key.values())
    waiting: list[PendingRefinement] = []
    for start in range(0, len(keys), CHUNK):
        waiting += db_session.scalars(
            select(PendingRefinement).where(
                or_(
                    PendingRefinement.question_key.in_(keys[start : start + CHUNK]),
                    PendingRefinement.qa_id.in_(ids[start : start + CHUNK]),
                )
            )
        ).all()
    applied = 0
    for pending in waiting:
        record = RefinementRecord.model_validate(pending.record)
        qa_id = by_key.get(record.question_key or "") or record.qa_id
        if qa_id is None:
            continue
        _score(db_session, qa_id, record, now)
        applied += 1
    if waiting:
        db_session.execute(
            delete(PendingRefinement).where(PendingRefinement.id.in_([p.id for p in waiting]))
        )
    return applied
