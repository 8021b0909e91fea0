"""Importers for what is handed TO an agent: assignments, the session index, notes."""

from __future__ import annotations

from sqlalchemy import delete, select

from daemon.ingest.importers.base import ImportContext, ImportResult
from daemon.store.engine import read_cache
from daemon.store.models import SessionIndicator, SessionPlan
from handlers.models import Assignment, Note, SessionIndex


def _replace_plan(
    ictx: ImportContext,
    *,
    number: int,
    origin: str,
    title: str | None,
    category: str | None,
    target: int,
    indicators: list[str],
) -> None:
    db_session = ictx.db_session
    read_cache(db_session).clear()  # what was read of the plans (IndicatorBook) is stale
    plan = db_session.get(SessionPlan, number)
    if plan is None:
        plan = SessionPlan(session_number=number)
        db_session.add(plan)
    plan.agent = ictx.file.agent
    plan.title = title
    plan.category = category
    plan.target_per_indicator = target
    plan.origin = origin
    plan.file_id = ictx.file_id
    plan.assigned_at = ictx.now
    db_session.flush()
    db_session.execute(delete(SessionIndicator).where(SessionIndicator.session_number == number))
    db_session.add_all(
        SessionIndicator(session_number=number, position=i, indicator_name=name)
        for i, name in enumerate(indicators, start=1)
    )


def apply_assignment(ictx: ImportContext, assignment: Assignment) -> ImportResult:
    """A later assignment for the same session replaces the earlier one (the archive keeps it)."""
    _replace_plan(
        ictx,
        number=assignment.session,
        origin="assignment",
        title=assignment.title,
        category=assignment.category,
        target=assignment.target_per_indicator,
        indicators=assignment.indicators,
    )
    return ImportResult(
        details={"session": assignment.session, "indicators": assignment.indicators},
        concerns={ictx.file.agent, ictx.settings.orchestrator},
    )


def apply_session_index(ictx: ImportContext, index: SessionIndex) -> ImportResult:
    """Each row registers its session, unless an assignment file already describes it."""
    from_assignment = set(
        ictx.db_session.scalars(
            select(SessionPlan.session_number).where(SessionPlan.origin == "assignment")
        )
    )
    registered, kept = [], []
    for row in index.rows:
        if row.session in from_assignment:
            kept.append(row.session)
            continue
        _replace_plan(
            ictx,
            number=row.session,
            origin="index",
            title=row.title,
            category=None,
            target=ictx.settings.target_per_indicator,
            indicators=row.indicators,
        )
        registered.append(row.session)
    return ImportResult(
        details={
            "sessions": [row.session for row in index.rows],
            "registered": registered,
            "kept_from_assignment": kept,
        },
        concerns={ictx.file.agent, ictx.settings.orchestrator},
    )


def apply_note(ictx: ImportContext, note: Note) -> ImportResult:
    """Archived and logged; no data change."""
    return ImportResult(
        details={"title": note.title, "lines": note.lines}, concerns={ictx.file.agent}
    )
