"""What each agent is told about its deliveries, as a dict: a view of the database, nothing more.

``agent_view`` is what ``status.json`` holds and ``inboxd status --json`` prints; ``render``
turns it into ``STATUS.md`` and ``writer`` puts both into the inbox. The whole-table figures
come from a ``StoredTally``; everything else is read through indexes (migration 0005).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, Row, bindparam, func, select, true
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.ingest import ledger
from daemon.status.coverage import gaps, session_coverage
from daemon.status.current import last_snapshot, now_stamp, stamp
from daemon.status.tally import StoredTally, fresh_tally
from daemon.store.engine import Reader
from daemon.store.models import (
    FileRecord,
    Indicator,
    PendingRefinement,
    ProgressClaimRow,
    QAPairRow,
    SignalRow,
)

if TYPE_CHECKING:  # the waiting files come from the writer: `inboxd status` needs no watcher
    from daemon.ingest.waiting import WaitingFile

AnyRow = Row[*tuple[Any, ...]]  # a result row, whatever its columns


# The per-write statements, built once: building a statement costs more than running it
# here. Ledger rows are read as plain rows (only the columns shown), not as ORM objects.
FILE_COLUMNS = (
    FileRecord.rel_path,
    FileRecord.kind,
    FileRecord.outcome,
    FileRecord.pairs_stored,
    FileRecord.pairs_duplicate,
    FileRecord.pairs_skipped,
    FileRecord.pairs_filtered,
    FileRecord.reason,
    FileRecord.processed_at,
)
RECENT_FILES = (  # index (agent, id)
    select(*FILE_COLUMNS)
    .where(FileRecord.agent == bindparam("agent"))
    .order_by(FileRecord.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
# rejected or failed, and still the latest record of its path; sorted by id in Python: an
# ORDER BY id makes SQLite walk all the agent's files in (agent, id) order instead of
# looking up its few rejected ones in (agent, outcome)
REJECTED_FILES = select(FileRecord.id, *FILE_COLUMNS).where(
    FileRecord.agent == bindparam("agent"), *ledger.STILL_REJECTED
)
_CLAIMS, _SIGNALS = ProgressClaimRow.__table__, SignalRow.__table__
LAST_CLAIM = (
    select(_CLAIMS)
    .where(_CLAIMS.c.agent == bindparam("agent"))
    .order_by(_CLAIMS.c.id.desc())
    .limit(1)
)
LAST_SIGNAL = (
    select(_SIGNALS)
    .where(_SIGNALS.c.agent == bindparam("agent"))
    .order_by(_SIGNALS.c.id.desc())
    .limit(1)
)
INDICATOR_COUNT = select(func.count()).select_from(Indicator)
PENDING_COUNT = select(func.count()).select_from(PendingRefinement)
NEAR_MARKED_COUNT = (  # partial index: only the marked rows
    select(func.count()).select_from(QAPairRow).where(QAPairRow.near_duplicate_of.is_not(None))
)
LAST_NEAR_DUPLICATES = (  # index (agent, id), newest first: the agent's last file with some
    select(FileRecord.rel_path, FileRecord.details)
    .where(FileRecord.agent == bindparam("agent"), FileRecord.pairs_near_duplicate > 0)
    .order_by(FileRecord.id.desc())
    .limit(1)
)
NEAR_EXAMPLES = 5
KEY_CONFLICT_COUNT = (  # partial index: only the marked rows
    select(func.count()).select_from(QAPairRow).where(QAPairRow.key_conflict == true())
)


def file_entry(record: AnyRow) -> dict[str, Any]:
    return {
        "path": record.rel_path,
        "kind": record.kind,
        "outcome": record.outcome,
        "pairs_stored": record.pairs_stored,
        "duplicates": record.pairs_duplicate,
        "skipped": record.pairs_skipped,
        "filtered": record.pairs_filtered,
        "reason": record.reason,
        "at": stamp(record.processed_at),
    }


def database_totals(reader: Reader, tally: StoredTally | None = None) -> dict[str, Any]:
    """Whole-database figures (the orchestrator's view and ``inboxd status --json``)."""
    tally = tally or fresh_tally(reader)
    return {
        "pairs": tally.pairs_total,
        "indicators": reader.scalar(INDICATOR_COUNT) or 0,
        "files": tally.outcomes(),
        "duplicates_skipped": tally.duplicates_total(),
        "known_duplicate_rows": reader.scalar(KEY_CONFLICT_COUNT) or 0,
        "near_duplicates_marked": reader.scalar(NEAR_MARKED_COUNT) or 0,
    }


def status_summary(
    reader: Reader, settings: Settings, agents: Sequence[str], tally: StoredTally | None = None
) -> dict[str, Any]:
    """The whole database and each agent's view: what ``inboxd status --json`` prints and
    the dashboard's ``/api/status`` answers."""
    tally = tally or fresh_tally(reader)
    by_outcome = database_totals(reader, tally)
    return {
        "pairs": by_outcome["pairs"],
        "files": by_outcome["files"],
        "database": by_outcome,
        "agents": {agent: agent_view(reader, settings, agent, tally) for agent in agents},
    }


def near_duplicates(reader: Reader, settings: Settings, agent: str, found: int) -> dict[str, Any]:
    """How many near-duplicates the agent's deliveries held, and examples from its last file
    that held some (the question, the stored one it resembles, their similarity)."""
    shown: dict[str, Any] = {"policy": settings.near_duplicate_policy, "found": found}
    last = reader.execute(LAST_NEAR_DUPLICATES, {"agent": agent}).first() if found else None
    details = last.details if last is not None and isinstance(last.details, dict) else {}
    examples = details.get("near_duplicates", {}).get("examples", [])
    if last is not None:
        shown["last_file"] = last.rel_path
    shown["examples"] = [
        {key: e.get(key) for key in ("question", "resembles", "similarity")}
        for e in examples[:NEAR_EXAMPLES]
    ]
    return shown


def rejected_files(reader: Reader, agent: str) -> list[AnyRow]:
    """An agent's rejected files that still need a person (``ledger.STILL_REJECTED``)."""
    return sorted(reader.execute(REJECTED_FILES, {"agent": agent}).all(), key=lambda row: row.id)


def refinement_queue(reader: Reader) -> dict[str, int]:
    """Pairs handed to the refiner, returned with a score, and still pending."""
    # both over the partial index of handed rows
    handed = (
        reader.scalar(
            select(func.count()).select_from(QAPairRow).where(QAPairRow.handed_at.is_not(None))
        )
        or 0
    )
    returned = (
        reader.scalar(
            select(func.count())
            .select_from(QAPairRow)
            .where(QAPairRow.handed_at.is_not(None), QAPairRow.refined_at.is_not(None))
        )
        or 0
    )
    waiting = reader.scalar(PENDING_COUNT) or 0
    return {
        "handed": handed,
        "returned": returned,
        "pending": handed - returned,
        "unmatched_records_waiting": waiting,
    }


def agent_view(
    reader: Reader,
    settings: Settings,
    agent: str,
    tally: StoredTally | None = None,
    waiting: Sequence[WaitingFile] = (),
) -> dict[str, Any]:
    """Everything an agent should know about its deliveries, from the database, and the
    files the running daemon may not read (``waiting``: they are in no table).

    ``tally`` is the writer's running counts, refreshed by the caller; without it the
    counts are read now.
    """
    if isinstance(reader, Session):  # plain statements: no need for the ORM's layer
        reader = reader.connection()
    tally = tally or fresh_tally(reader)
    stored = tally.pairs_by_session()
    coverage = session_coverage(reader, agent, stored)
    found = gaps(coverage)
    own_sessions = tally.sessions_of(agent)
    # delivered = sessions with this agent's stored pairs, plus those of files that brought
    # only duplicates
    delivered_sessions = own_sessions | tally.duplicate_only_sessions(agent)
    counts = tally.file_sums(agent)
    recent = reader.execute(
        RECENT_FILES, {"agent": agent, "limit": settings.recent_files_in_status}
    ).all()
    rejected = rejected_files(reader, agent)
    claim = reader.execute(LAST_CLAIM, {"agent": agent}).first()
    signal = reader.execute(LAST_SIGNAL, {"agent": agent}).first()
    view: dict[str, Any] = {
        "agent": agent,
        "updated_at": now_stamp(),
        "sessions": {
            "assigned": [c.number for c in coverage],
            "delivered": sorted(delivered_sessions),
            "imported": sorted(own_sessions),
            "missing": found.missing_sessions,
            "missing_indicators": found.missing_indicators,
            "planned_not_delivered": found.planned_not_delivered,
        },
        "pairs": {
            "imported": counts[0],
            "duplicates_skipped": counts[1],
            "invalid_skipped": counts[2],
            "filtered": counts[3],
            "near_duplicates": tally.near_duplicates(agent),
        },
        "near_duplicates": near_duplicates(reader, settings, agent, tally.near_duplicates(agent)),
        "recent_files": [file_entry(r) for r in recent],
        "rejected": [file_entry(r) for r in rejected],
        "waiting_files": [
            {"path": w.rel_root, "reason": w.reason, "since": stamp(w.since)} for w in waiting
        ],
        "progress": _progress(claim, found.sessions_with_pairs, len(own_sessions)),
        "signal": signal_state(signal),
    }
    if agent == settings.orchestrator:
        view["database"] = database_totals(reader, tally)
        view["database"]["tiers"] = tally.tiers(reader)
        view["gaps"] = gaps(session_coverage(reader, stored=stored)).as_dict()
        view["datasets"] = last_snapshot(settings)
    if agent == settings.refiner:
        view["refinement"] = refinement_queue(reader)
    view["next"] = _next_steps(view, coverage)
    return view


def _progress(claim: AnyRow | None, sessions_with_pairs: int, own_sessions: int) -> dict[str, Any]:
    database = {
        "assigned_sessions_with_pairs": sessions_with_pairs,
        "sessions_with_own_pairs": own_sessions,
    }
    if claim is None:
        return {"claim": None, "database": database}
    return {
        "claim": {
            "sessions_complete": claim.sessions_complete,
            "sessions_total": claim.sessions_total,
            "current_session": claim.current_session,
            "last_updated": claim.last_updated,
            "notes": claim.notes,
            "received_at": stamp(claim.received_at),
        },
        "database": database,
        "agrees": claim.sessions_complete == own_sessions,
    }


def signal_state(signal: AnyRow | None) -> dict[str, Any]:
    if signal is None:
        return {"state": "open", "note": "no ALL_SESSIONS_COMPLETE received"}
    return {
        "state": "closed" if signal.outcome == "closed" else "closed (repeat signal ignored)",
        "batch": signal.batch_no,
        "at": stamp(signal.received_at),
        "findings": signal.findings,
    }


def _next_steps(view: dict[str, Any], coverage: Iterable[Any]) -> list[str]:
    steps = [f"fix and deliver again: {r['reason']}" for r in view["rejected"]]
    steps += [f"let inboxd read it: {w['reason']}" for w in view["waiting_files"]]
    queue = view.get("refinement")
    if queue and queue["pending"]:
        steps.append(
            f"refine the {queue['pending']} pairs handed in inbox/{view['agent']}/"
            f"refinement-batch-*.jsonl; return outbox/{view['agent']}/"
            "refinement_*.jsonl"
        )
    for c in coverage:
        if c.session_missing:
            wanted = ", ".join(c.expected) or "as assigned"
            steps.append(f"deliver session {c.number:02d}: {wanted}")
        elif c.missing:
            steps.append(f"session {c.number:02d} still owes: {', '.join(c.missing)}")
    if not steps and view["sessions"]["assigned"] and view["signal"]["state"] == "open":
        steps.append(
            "every assigned session is delivered: write outbox/<agent>/"
            "ALL_SESSIONS_COMPLETE when the batch is done"
        )
    return steps or ["nothing pending"]
