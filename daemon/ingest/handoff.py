"""Handing the pairs not yet refined to the refiner (gemini) as JSON Lines batches.

``inbox/<refiner>/refinement-batch-<stamp>-<n>.jsonl``, at most ``refinement_batch_size``
records a file; each pair is handed once (``handed_at``) until its refinement returns.
A near-duplicate is handed with its mark (``near_duplicate_of``, ``near_similarity``), or
not handed at all under ``handoff_near_duplicates = skip``: scoring it again is wasted work.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.fsutil import write_atomic
from daemon.store.models import QAPairRow


class HandedBatch(TypedDict):
    """One batch file written for the refiner, as the signal's findings record it."""

    file: str  # relative to the root
    pairs: int


def hand_off(db_session: Session, settings: Settings, now: datetime) -> list[HandedBatch]:
    """Write the batch files and mark their pairs handed; returns [{file, pairs}]."""
    query = select(
        QAPairRow.qa_id,
        QAPairRow.question_key,
        QAPairRow.indicator_name,
        QAPairRow.question,
        QAPairRow.answer,
        QAPairRow.near_duplicate_of,
        QAPairRow.near_similarity,
    ).where(QAPairRow.refined_at.is_(None), QAPairRow.handed_at.is_(None))
    if settings.handoff_near_duplicates == "skip":
        query = query.where(QAPairRow.near_duplicate_of.is_(None))
    rows = db_session.execute(query.order_by(QAPairRow.qa_id)).all()
    folder = settings.root_path / "inbox" / settings.refiner
    size = max(1, settings.refinement_batch_size)
    written: list[HandedBatch] = []
    for n, start in enumerate(range(0, len(rows), size), start=1):
        chunk = rows[start : start + size]
        path = folder / f"refinement-batch-{now:%Y%m%d-%H%M%S}-{n}.jsonl"
        write_atomic(
            path,
            b"".join(orjson.dumps(_record(r)) + b"\n" for r in chunk),
        )
        ids = [r.qa_id for r in chunk]
        for id_start in range(0, len(ids), 500):
            db_session.execute(
                update(QAPairRow)
                .where(QAPairRow.qa_id.in_(ids[id_start : id_start + 500]))
                .values(handed_at=now, handed_file=path.name)
            )
        written.append({"file": _relative(path, settings), "pairs": len(chunk)})
    return written


def _record(row: Any) -> dict[str, Any]:
    """One pair as the refiner reads it; a near-duplicate's mark only on a marked pair."""
    record = {
        "qa_id": row.qa_id,
        "question_key": row.question_key,
        "indicator": row.indicator_name,
        "question": row.question,
        "answer": row.answer,
    }
    if row.near_duplicate_of is not None:
        record["near_duplicate_of"] = row.near_duplicate_of
        record["near_similarity"] = row.near_similarity
    return record


def _relative(path: Path, settings: Settings) -> str:
    return path.relative_to(settings.root_path).as_posix()
