"""Closing a batch on ``ALL_SESSIONS_COMPLETE``: back up, check, report, hand to the refiner.

In order: a backup of the database as it was; the agent's claims checked against the
database; missing sessions and indicators listed; the gap report written; the pairs not yet
refined handed to the refiner as JSON Lines batches; with ``snapshot_on_close``, once the
close committed, a dataset snapshot named ``<agent>-batch-<n>``. The backup, the gap report and the
hand-off are each an event in the log (``batch.backup``, ``batch.gap_report``,
``batch.handoff``): the files they wrote and their counts.

A batch is what an agent delivered since its previous signal. A signal that arrives when no
new data file was imported since the last close changes nothing and says so. Data files are
those of the kinds whose handler carries pairs (``handlers.pair_kinds``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, func, select

from daemon.ingest.handoff import hand_off
from daemon.ingest.importers.base import ImportContext, ImportResult
from daemon.logging import get_logger
from daemon.status.coverage import gaps, session_coverage
from daemon.status.gap_report import write_gap_report
from daemon.store.backup import automatic_backup
from daemon.store.models import FileRecord, QAPairRow, SignalRow
from handlers import pair_kinds
from handlers.models import CompletionSignal

log = get_logger("inboxd.batch")


def _relative(path: Path, ictx: ImportContext) -> str:
    return path.relative_to(ictx.settings.root_path).as_posix()


def _backup(ictx: ImportContext, batch_no: int) -> str | None:
    """A copy of the database before the batch closes (SQLite; other engines: their tools)."""
    settings = ictx.settings
    taken = automatic_backup(settings.url, settings.backup_dir, ictx.now, settings.backup_keep)
    fields = taken.fields(settings.root_path)
    log.info("batch.backup", agent=ictx.file.agent, batch=batch_no, **fields)
    return None if taken.path is None else _relative(taken.path, ictx)


def _report_and_hand_off(ictx: ImportContext, batch_no: int) -> dict[str, Any]:
    """The gap report and the refiner's batches, each logged with what it wrote."""
    settings, agent = ictx.settings, ictx.file.agent
    report = _relative(write_gap_report(ictx.db_session, settings, ictx.now), ictx)
    log.info("batch.gap_report", agent=agent, batch=batch_no, path=report)
    handed = hand_off(ictx.db_session, settings, ictx.now)
    log.info(
        "batch.handoff",
        agent=agent,
        batch=batch_no,
        refiner=settings.refiner,
        files=len(handed),
        pairs=sum(batch["pairs"] for batch in handed),
        paths=[batch["file"] for batch in handed],
    )
    return {"gap_report": report, "handed_to_refiner": handed}


def _snapshot_after_close(ictx: ImportContext, batch_no: int) -> Callable[[], None]:
    """``snapshot_on_close``: a dataset snapshot named after the batch, once it committed."""
    settings, agent = ictx.settings, ictx.file.agent
    engine = ictx.db_session.get_bind()
    name = f"{agent}-batch-{batch_no}"

    def take() -> None:
        from daemon.dataset.filters import Filters  # pyarrow and DuckDB: only when asked
        from daemon.dataset.snapshot import Request, take_snapshot

        if (settings.dataset_dir / name).exists():  # a restored database closes it again
            log.warning(
                "batch.snapshot_skipped",
                agent=agent,
                batch=batch_no,
                name=name,
                reason="a snapshot of that name exists already",
            )
            return
        request = Request(
            name=name, formats=tuple(settings.dataset_formats), filters=Filters(), allow_empty=True
        )
        manifest = take_snapshot(settings, cast(Engine, engine), request)
        log.info("batch.snapshot", agent=agent, batch=batch_no, name=name, pairs=manifest.pairs)

    return take


def _last_data_file_id(ictx: ImportContext) -> int | None:
    return ictx.db_session.scalar(
        select(func.max(FileRecord.id)).where(
            FileRecord.agent == ictx.file.agent,
            FileRecord.outcome == "imported",
            FileRecord.kind.in_(pair_kinds()),
        )
    )


def database_side(ictx: ImportContext) -> dict[str, int]:
    """The agent's numbers as the database has them."""
    agent = ictx.file.agent
    db_session = ictx.db_session
    return {
        "sessions": db_session.scalar(
            select(func.count(func.distinct(QAPairRow.session_number))).where(
                QAPairRow.agent == agent, QAPairRow.session_number.is_not(None)
            )
        )
        or 0,
        "files": db_session.scalar(
            select(func.count()).where(
                FileRecord.agent == agent,
                FileRecord.outcome == "imported",
                FileRecord.kind.in_(pair_kinds()),
            )
        )
        or 0,
        "pairs": db_session.scalar(select(func.count()).where(QAPairRow.agent == agent)) or 0,
    }


def compare_claims(signal: CompletionSignal, actual: dict[str, int]) -> list[dict[str, Any]]:
    claims = {
        "sessions": signal.claimed_sessions,
        "files": signal.claimed_files,
        "pairs": signal.claimed_pairs,
    }
    return [
        {"claim": name, "claimed": value, "database": actual[name], "agrees": value == actual[name]}
        for name, value in claims.items()
        if value is not None
    ]


def apply(ictx: ImportContext, signal: CompletionSignal) -> ImportResult:
    agent = ictx.file.agent
    concerns = {agent, ictx.settings.orchestrator, ictx.settings.refiner}
    last = ictx.db_session.scalars(
        select(SignalRow)
        .where(SignalRow.agent == agent, SignalRow.outcome == "closed")
        .order_by(SignalRow.batch_no.desc())
        .limit(1)
    ).first()
    last_data = _last_data_file_id(ictx)
    claims = signal.model_dump(include={"claimed_sessions", "claimed_files", "claimed_pairs"})
    if last is not None and (last.findings or {}).get("last_data_file_id") == last_data:
        ictx.db_session.add(
            SignalRow(
                agent=agent,
                batch_no=last.batch_no,
                file_id=ictx.file_id,
                outcome="already-closed",
                received_at=ictx.now,
                claims=claims,
            )
        )
        return ImportResult(
            details={
                "signal": "already-closed",
                "batch": last.batch_no,
                "note": f"batch {last.batch_no} was closed already; nothing changed",
            },
            concerns=concerns,
        )
    batch_no = (last.batch_no + 1) if last else 1
    # The backup comes first and sees the database as it was before this signal.
    backup_path = None if ictx.dry_run else _backup(ictx, batch_no)
    actual = database_side(ictx)
    found = gaps(session_coverage(ictx.db_session))
    findings: dict[str, Any] = {
        "last_data_file_id": last_data,
        "database": actual,
        "claims": compare_claims(signal, actual),
        "missing_sessions": found.missing_sessions,
        "missing_indicators": {str(k): v for k, v in found.missing_indicators.items()},
        "planned_not_delivered": {str(k): v for k, v in found.planned_not_delivered.items()},
    }
    findings["backup"] = backup_path
    if ictx.dry_run:
        findings["note"] = "dry run: no backup, gap report or hand-off written"
    else:
        findings.update(_report_and_hand_off(ictx, batch_no))
    ictx.db_session.add(
        SignalRow(
            agent=agent,
            batch_no=batch_no,
            file_id=ictx.file_id,
            outcome="closed",
            received_at=ictx.now,
            claims=claims,
            findings=findings,
        )
    )
    result = ImportResult(
        details={"signal": "closed", "batch": batch_no, **findings}, concerns=concerns
    )
    if ictx.settings.snapshot_on_close and not ictx.dry_run:
        result.after_commit.append(_snapshot_after_close(ictx, batch_no))
    return result
