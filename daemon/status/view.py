"""Status written back into each agent's inbox: a view of the database, nothing more.

``inbox/<agent>/status.json`` for programs and ``STATUS.md`` for reading, written
atomically. They can always be rebuilt from the database (``inboxd status --write``).

A write must cost a few milliseconds whatever the size of the database (it follows every
file): the whole-table figures (pairs per session and indicator, each agent's sessions,
the ledger's sums) are kept by a ``StoredTally`` that reads only the rows added since its
last look; everything else is read through indexes (migration 0005).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Integer, Row, bindparam, func, literal, select, true
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.fsutil import write_atomic
from daemon.ingest import ledger
from daemon.ingest.importers.signal import DATA_KINDS
from daemon.status.coverage import gaps, session_coverage
from daemon.store.engine import Database
from daemon.store.models import (
    FileRecord,
    Indicator,
    PendingRefinement,
    ProgressClaimRow,
    QAPairRow,
    SignalRow,
    utcnow,
)

Reader = Session | Connection  # a Connection skips the ORM's per-statement work

STATUS_JSON = "status.json"
STATUS_MD = "STATUS.md"
FULL_RECOUNT_SECONDS = 60.0  # the tally is recounted from scratch at least this often
SNAPSHOT_ATTEMPTS = 3  # a full count that saw commits land meanwhile is done again


def _stamp(value: Any) -> str | None:
    return f"{value.isoformat(timespec='seconds')}Z" if value is not None else None


# The per-write statements, built once: building a statement costs more than running it
# here. Ledger rows are read as plain rows (only the columns shown), not as ORM objects.
_FILE_COLUMNS = (
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
    select(*_FILE_COLUMNS)
    .where(FileRecord.agent == bindparam("agent"))
    .order_by(FileRecord.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
# rejected or failed, and still the latest record of its path; sorted by id in Python: an
# ORDER BY id makes SQLite walk all the agent's files in (agent, id) order instead of
# looking up its few rejected ones in (agent, outcome)
REJECTED_FILES = select(FileRecord.id, *_FILE_COLUMNS).where(
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
TIERS = (  # partial index: only the refined rows
    select(QAPairRow.tier, func.count())
    .where(QAPairRow.tier.is_not(None))
    .group_by(QAPairRow.tier)
    .order_by(QAPairRow.tier)
)
INDICATOR_COUNT = select(func.count()).select_from(Indicator)
PENDING_COUNT = select(func.count()).select_from(PendingRefinement)
KEY_CONFLICT_COUNT = (  # partial index: only the marked rows
    select(func.count()).select_from(QAPairRow).where(QAPairRow.key_conflict == true())
)
# the tally's reads
_PAIRS_MAX = select(func.max(QAPairRow.qa_id)).scalar_subquery()
_PAIRS_COUNT = select(func.count()).select_from(QAPairRow).scalar_subquery()
_FILES_MAX = select(func.max(FileRecord.id)).scalar_subquery()
_FILES_COUNT = select(func.count()).select_from(FileRecord).scalar_subquery()
# what tells one version of a row from another under the same id (SQLite gives a deleted
# highest id to the next insert): a pair's question key, a ledger row's processing time
PAIR_MARK = select(QAPairRow.question_key).where(QAPairRow.qa_id == bindparam("pairs_at"))
FILE_MARK = select(FileRecord.processed_at).where(FileRecord.id == bindparam("files_at"))
# highest id, row count and the mark of the row last counted, of both tables, in one
# statement: one point in time (one read transaction in SQLite, one snapshot in PostgreSQL)
SNAPSHOT = select(
    _PAIRS_MAX,
    _PAIRS_COUNT,
    PAIR_MARK.scalar_subquery(),
    _FILES_MAX,
    _FILES_COUNT,
    FILE_MARK.scalar_subquery(),
)
PAIRS_GROUPED = select(QAPairRow.session_number, QAPairRow.indicator_name, func.count()).group_by(
    QAPairRow.session_number, QAPairRow.indicator_name
)
AGENT_SESSIONS = (
    select(QAPairRow.agent, QAPairRow.session_number)
    .distinct()
    .where(QAPairRow.session_number.is_not(None))
)
# new rows are read one by one and added up here: with a GROUP BY, SQLite walks a whole
# index in group order instead of the primary key's short range
NEW_PAIRS = select(
    QAPairRow.qa_id,
    QAPairRow.agent,
    QAPairRow.session_number,
    QAPairRow.indicator_name,
    QAPairRow.question_key,
).where(QAPairRow.qa_id > bindparam("above"), QAPairRow.qa_id <= bindparam("upto"))
FILES_GROUPED = (
    select(
        FileRecord.agent,
        FileRecord.outcome,
        func.count(),
        func.sum(FileRecord.pairs_stored),
        func.sum(FileRecord.pairs_duplicate),
        func.sum(FileRecord.pairs_skipped),
        func.sum(FileRecord.pairs_filtered),
    )
    .where(FileRecord.id > bindparam("above"), FileRecord.id <= bindparam("upto"))
    .group_by(FileRecord.agent, FileRecord.outcome)
)
NEW_FILES = select(
    FileRecord.agent,
    FileRecord.outcome,
    literal(1),
    FileRecord.pairs_stored,
    FileRecord.pairs_duplicate,
    FileRecord.pairs_skipped,
    FileRecord.pairs_filtered,
    FileRecord.id,
    FileRecord.processed_at,
).where(FileRecord.id > bindparam("above"), FileRecord.id <= bindparam("upto"))
DUPLICATE_ONLY_FILES = (  # data files that brought only duplicates: few, details read
    select(FileRecord.agent, FileRecord.details).where(
        FileRecord.id > bindparam("above"),
        FileRecord.id <= bindparam("upto"),
        FileRecord.kind.in_(DATA_KINDS),
        FileRecord.pairs_stored == 0,
        FileRecord.pairs_duplicate > 0,
    )
)


def _file_entry(record: Row[Any]) -> dict[str, Any]:
    return {
        "path": record.rel_path,
        "kind": record.kind,
        "outcome": record.outcome,
        "pairs_stored": record.pairs_stored,
        "duplicates": record.pairs_duplicate,
        "skipped": record.pairs_skipped,
        "filtered": record.pairs_filtered,
        "reason": record.reason,
        "at": _stamp(record.processed_at),
    }


class StoredTally:
    """Whole-table counts of ``qa_pairs`` and the ledger, kept current by reading new rows only.

    Why this is exact: the columns counted here are final once a row is committed (a pair's
    agent, session and indicator; a ledger row's agent, outcome and pair counts), inboxd
    never deletes a pair, and the ledger loses a row only to ``inboxd retry``. So each
    ``refresh`` reads each table's highest id and row count, and the row last counted (is
    it still the same row?), then only the rows between that one and the highest id. A
    deleted row, a row replaced under the same id, or (PostgreSQL) a row committed late
    under a lower id by another daemon makes the counts disagree with the table, and that
    table is counted again in full. A full recount also happens every
    ``FULL_RECOUNT_SECONDS``, so a change made behind inboxd's back (a user's script
    updating rows) shows within a minute. Not thread-safe: one instance per
    ``StatusWriter``, which writes one status at a time.
    """

    def __init__(self) -> None:
        self._recounted_at = float("-inf")
        self._pairs_upto: int | None = None  # highest qa_id counted; None: count everything
        self._pairs_mark: Any = None  # the question key of that row
        self._pairs_total = 0
        self._pair_counts: Counter[tuple[int | None, str | None]] = Counter()
        self._agent_sessions: defaultdict[str | None, set[int]] = defaultdict(set)
        self._by_session: dict[int, dict[str, int]] | None = None
        self._files_upto: int | None = None  # highest files.id counted; None: everything
        self._files_mark: Any = None  # the processing time of that row
        self._files_total = 0
        self._outcomes: Counter[str] = Counter()
        # agent -> [stored, duplicate, skipped, filtered]
        self._agent_sums: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        # agent -> sessions of its data files that brought only duplicates
        self._duplicate_only: defaultdict[str, set[int]] = defaultdict(set)

    # -- reading the database --------------------------------------------------------------
    def refresh(self, session: Reader) -> None:
        """Bring the counts up to what is committed now: one query when nothing changed."""
        if time.monotonic() - self._recounted_at >= FULL_RECOUNT_SECONDS:
            self._pairs_upto = self._files_upto = None
            self._recounted_at = time.monotonic()
        # a disagreement makes the next attempt count that table in full; commits landing
        # meanwhile make it disagree too, hence a few attempts (after which the last counts
        # are shown, and the next refresh counts everything again)
        try:
            for _ in range(SNAPSHOT_ATTEMPTS):
                snap = session.execute(
                    SNAPSHOT,
                    {
                        "pairs_at": -1 if self._pairs_upto is None else self._pairs_upto,
                        "files_at": -1 if self._files_upto is None else self._files_upto,
                    },
                ).one()
                pairs_agree = self._add_pairs(session, snap[0] or 0, snap[1] or 0, snap[2])
                if self._add_files(session, snap[3] or 0, snap[4] or 0, snap[5]) and pairs_agree:
                    return
        except BaseException:  # e.g. the database went away half-way: count all next time
            self._pairs_upto = self._files_upto = None
            raise

    def _add_pairs(self, session: Reader, upto: int, total: int, mark: Any) -> bool:
        """Count the pairs up to qa_id ``upto`` not counted yet; False (and everything to
        count next time) unless the tally then holds ``total`` rows, as the table did.
        ``mark``: the question key of the row last counted, as the table has it now."""
        if self._pairs_upto is not None and mark != self._pairs_mark:
            self._pairs_upto = None  # that row is gone, or another took its id
        if self._pairs_upto == upto and self._pairs_total == total:
            return True  # nothing new
        if self._pairs_upto is None:  # everything: two GROUP BYs over covering indexes
            self._pairs_total = 0
            self._pair_counts.clear()
            self._agent_sessions.clear()
            for number, name, count in session.execute(PAIRS_GROUPED):
                self._pair_counts[(number, name)] += count
                self._pairs_total += count
            for agent, number in session.execute(AGENT_SESSIONS):
                self._agent_sessions[agent].add(number)
            new_mark = session.scalar(PAIR_MARK, {"pairs_at": upto})
        else:
            new_mark = self._pairs_mark
            for qa_id, agent, number, name, key in session.execute(
                NEW_PAIRS, {"above": self._pairs_upto, "upto": upto}
            ):
                self._pair_counts[(number, name)] += 1
                if number is not None:
                    self._agent_sessions[agent].add(number)
                self._pairs_total += 1
                if qa_id == upto:
                    new_mark = key
        self._by_session = None
        agrees = self._pairs_total == total
        self._pairs_upto, self._pairs_mark = (upto, new_mark) if agrees else (None, None)
        return agrees

    def _add_files(self, session: Reader, upto: int, total: int, mark: Any) -> bool:
        """Count the ledger rows up to id ``upto`` not counted yet; False (and everything
        to count next time) unless the tally then holds ``total`` rows. ``mark``: the
        processing time of the row last counted, as the table has it now."""
        if self._files_upto is not None and mark != self._files_mark:
            self._files_upto = None  # e.g. ``inboxd retry`` replaced the latest row
        if self._files_upto == upto and self._files_total == total:
            return True
        bounds = {"above": -1 if self._files_upto is None else self._files_upto, "upto": upto}
        new_mark = self._files_mark
        if self._files_upto is None:
            self._files_total = 0
            self._outcomes.clear()
            self._agent_sums.clear()
            self._duplicate_only.clear()
            rows = [(*row, None, None) for row in session.execute(FILES_GROUPED, bounds)]
            new_mark = session.scalar(FILE_MARK, {"files_at": upto})
        else:
            rows = session.execute(NEW_FILES, bounds).all()
        for agent, outcome, count, stored, duplicate, skipped, filtered, row_id, at in rows:
            self._outcomes[outcome] += count
            sums = self._agent_sums[agent]
            for i, value in enumerate((stored, duplicate, skipped, filtered)):
                sums[i] += value or 0
            self._files_total += count
            if row_id == upto:
                new_mark = at
        for agent, details in session.execute(DUPLICATE_ONLY_FILES, bounds):
            if isinstance(details, dict):
                self._duplicate_only[agent].update(details.get("sessions", []))
        agrees = self._files_total == total
        self._files_upto, self._files_mark = (upto, new_mark) if agrees else (None, None)
        return agrees

    @property
    def files_upto(self) -> int | None:
        """The highest ledger id counted (None: the next refresh counts everything)."""
        return self._files_upto

    # -- what the view asks ----------------------------------------------------------------
    def pairs_by_session(self) -> dict[int, dict[str, int]]:
        """As ``coverage.pairs_by_session``: session number -> {indicator name -> pairs}.

        Built once per change of the counts; callers must not modify it.
        """
        if self._by_session is None:
            found: dict[int, dict[str, int]] = defaultdict(dict)
            for (number, name), count in self._pair_counts.items():
                if number is not None and count:
                    key = name or ""
                    found[number][key] = found[number].get(key, 0) + count
            self._by_session = found
        return self._by_session

    def sessions_of(self, agent: str) -> set[int]:
        """Sessions in which ``agent``'s stored pairs fall."""
        return set(self._agent_sessions.get(agent, ()))

    def duplicate_only_sessions(self, agent: str) -> set[int]:
        return set(self._duplicate_only.get(agent, ()))

    def file_sums(self, agent: str) -> tuple[int, int, int, int]:
        """(stored, duplicate, skipped, filtered) over ``agent``'s ledger rows."""
        stored, duplicate, skipped, filtered = self._agent_sums.get(agent, (0, 0, 0, 0))
        return stored, duplicate, skipped, filtered

    @property
    def pairs_total(self) -> int:
        return self._pairs_total

    def outcomes(self) -> dict[str, int]:
        return {outcome: n for outcome, n in sorted(self._outcomes.items()) if n}

    def duplicates_total(self) -> int:
        return sum(sums[1] for sums in self._agent_sums.values())


def fresh_tally(session: Reader) -> StoredTally:
    """A tally counted now (one-shot commands)."""
    tally = StoredTally()
    tally.refresh(session)
    return tally


def database_totals(session: Reader, tally: StoredTally | None = None) -> dict[str, Any]:
    """Whole-database figures (the orchestrator's view and ``inboxd status --json``)."""
    tally = tally or fresh_tally(session)
    return {
        "pairs": tally.pairs_total,
        "indicators": session.scalar(INDICATOR_COUNT) or 0,
        "files": tally.outcomes(),
        "duplicates_skipped": tally.duplicates_total(),
        "known_duplicate_rows": session.scalar(KEY_CONFLICT_COUNT) or 0,
    }


def rejected_files(session: Reader, agent: str) -> list[Row[Any]]:
    """An agent's rejected files that still need a person (``ledger.STILL_REJECTED``)."""
    return sorted(session.execute(REJECTED_FILES, {"agent": agent}).all(), key=lambda row: row.id)


def refinement_queue(session: Reader) -> dict[str, int]:
    """Pairs handed to the refiner, returned with a score, and still pending."""
    # both over the partial index of handed rows
    handed = (
        session.scalar(
            select(func.count()).select_from(QAPairRow).where(QAPairRow.handed_at.is_not(None))
        )
        or 0
    )
    returned = (
        session.scalar(
            select(func.count())
            .select_from(QAPairRow)
            .where(QAPairRow.handed_at.is_not(None), QAPairRow.refined_at.is_not(None))
        )
        or 0
    )
    waiting = session.scalar(PENDING_COUNT) or 0
    return {
        "handed": handed,
        "returned": returned,
        "pending": handed - returned,
        "unmatched_records_waiting": waiting,
    }


def agent_view(
    session: Reader, settings: Settings, agent: str, tally: StoredTally | None = None
) -> dict[str, Any]:
    """Everything an agent should know about its deliveries, from the database alone.

    ``tally`` is the writer's running counts, refreshed by the caller; without it the
    counts are read now.
    """
    if isinstance(session, Session):  # plain statements: no need for the ORM's layer
        session = session.connection()
    tally = tally or fresh_tally(session)
    stored = tally.pairs_by_session()
    coverage = session_coverage(session, agent, stored)
    found = gaps(coverage)
    own_sessions = tally.sessions_of(agent)
    # delivered = sessions with this agent's stored pairs, plus those of files that brought
    # only duplicates
    delivered_sessions = own_sessions | tally.duplicate_only_sessions(agent)
    counts = tally.file_sums(agent)
    recent = session.execute(
        RECENT_FILES, {"agent": agent, "limit": settings.recent_files_in_status}
    ).all()
    rejected = rejected_files(session, agent)
    claim = session.execute(LAST_CLAIM, {"agent": agent}).first()
    signal = session.execute(LAST_SIGNAL, {"agent": agent}).first()
    view: dict[str, Any] = {
        "agent": agent,
        "updated_at": _stamp(utcnow()),
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
        },
        "recent_files": [_file_entry(r) for r in recent],
        "rejected": [_file_entry(r) for r in rejected],
        "progress": _progress(claim, found.sessions_with_pairs, len(own_sessions)),
        "signal": _signal(signal),
    }
    if agent == settings.orchestrator:
        view["database"] = database_totals(session, tally)
        view["database"]["tiers"] = dict(session.execute(TIERS).all())
        view["gaps"] = gaps(session_coverage(session, stored=stored)).as_dict()
    if agent == settings.refiner:
        view["refinement"] = refinement_queue(session)
    view["next"] = _next_steps(view, coverage)
    return view


def _progress(
    claim: Row[Any] | None, sessions_with_pairs: int, own_sessions: int
) -> dict[str, Any]:
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
            "received_at": _stamp(claim.received_at),
        },
        "database": database,
        "agrees": claim.sessions_complete == own_sessions,
    }


def _signal(signal: Row[Any] | None) -> dict[str, Any]:
    if signal is None:
        return {"state": "open", "note": "no ALL_SESSIONS_COMPLETE received"}
    return {
        "state": "closed" if signal.outcome == "closed" else "closed (repeat signal ignored)",
        "batch": signal.batch_no,
        "at": _stamp(signal.received_at),
        "findings": signal.findings,
    }


def _next_steps(view: dict[str, Any], coverage: Iterable[Any]) -> list[str]:
    steps = [f"fix and deliver again: {r['reason']}" for r in view["rejected"]]
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


def render_markdown(view: dict[str, Any]) -> str:
    """The same view for a person (or an agent reading Markdown)."""
    s, p = view["sessions"], view["pairs"]
    lines = [
        f"# inboxd status: {view['agent']}",
        "",
        f"Updated {view['updated_at']}",
        "",
        "## Next",
        *[f"- {step}" for step in view["next"]],
        "",
        "## Sessions",
        f"- assigned: {_nums(s['assigned'])}",
        f"- delivered: {_nums(s['delivered'])}",
        f"- imported: {_nums(s['imported'])}",
        f"- missing: {_nums(s['missing'])}",
    ]
    for number, names in s["missing_indicators"].items():
        lines.append(f"- session {int(number):02d} missing indicators: {', '.join(names)}")
    for number, names in s["planned_not_delivered"].items():
        lines.append(f"- session {int(number):02d} planned, not delivered: {', '.join(names)}")
    lines += [
        "",
        "## Pairs",
        f"- imported: {p['imported']}",
        f"- duplicates skipped: {p['duplicates_skipped']}",
        f"- invalid pairs skipped: {p['invalid_skipped']}",
        f"- filtered (RAG distance): {p['filtered']}",
        "",
        "## Progress claim",
    ]
    prog = view["progress"]
    if prog["claim"]:
        c = prog["claim"]
        lines.append(
            f"- claimed: {c['sessions_complete']}/{c['sessions_total']} sessions "
            f"(current {c['current_session']}, updated {c['last_updated']})"
        )
    else:
        lines.append("- no status.txt received")
    lines.append(
        f"- database: {prog['database']['sessions_with_own_pairs']} sessions with "
        "pairs from this agent"
    )
    sig = view["signal"]
    lines += [
        "",
        "## Completion signal",
        f"- {sig['state']}" + (f" (batch {sig['batch']}, {sig['at']})" if "batch" in sig else ""),
    ]
    if view["rejected"]:
        lines += ["", "## Rejected files"]
        lines += [f"- {r['reason']}" for r in view["rejected"]]
    lines += [
        "",
        "## Recent files",
        "",
        "| file | kind | outcome | stored | dup | at |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['path']} | {r['kind'] or '-'} | {r['outcome']} | {r['pairs_stored']} | "
        f"{r['duplicates']} | {r['at']} |"
        for r in view["recent_files"]
    ]
    if "database" in view:
        d, g = view["database"], view["gaps"]
        lines += [
            "",
            "## Whole database",
            f"- pairs: {d['pairs']}, indicators: {d['indicators']}",
            f"- files: {', '.join(f'{k} {v}' for k, v in sorted(d['files'].items()))}",
            f"- duplicates skipped: {d['duplicates_skipped']}; "
            f"duplicate rows found at adoption: {d['known_duplicate_rows']}",
            f"- sessions with pairs: {g['sessions_with_pairs']}/{g['sessions_known']}; "
            f"toward target: {g['pairs_toward_target']}/{g['target_pairs']} pairs",
            f"- missing sessions: {_nums(g['missing_sessions'])}",
        ]
        tiers = ", ".join(f"{k} {v}" for k, v in sorted(d["tiers"].items())) or "none yet"
        lines.append(f"- quality tiers: {tiers}")
    if "refinement" in view:
        q = view["refinement"]
        lines += [
            "",
            "## Refinement queue",
            f"- handed: {q['handed']}, returned: {q['returned']}, pending: {q['pending']}",
            f"- records waiting for their pair: {q['unmatched_records_waiting']}",
        ]
    return "\n".join(lines) + "\n"


def _nums(numbers: Iterable[int]) -> str:
    shown = [f"{int(n):02d}" for n in numbers]
    return ", ".join(shown) if shown else "none"


def _write_status_file(path: Path, data: bytes) -> None:
    """Temp, fsync, rename, fsync the folder (an agent never reads a torn or lost status;
    about a millisecond here); the old version's blocks are freed off the writer's path
    (see ``write_atomic``)."""
    write_atomic(path, data, release_old_later=True)


class StatusWriter:
    """Writes the status of the agents a file concerns (configured agents only)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.tally = StoredTally()  # whole-table counts, kept across writes
        self._lock = threading.Lock()  # one write at a time: the tally is shared

    def write(self, agents: Iterable[str]) -> None:
        """Rewrite these agents' status files, each as soon as its view is read.

        The orchestrator's view (the whole database) comes last, so the agent whose file
        was just handled sees its status first.
        """
        asked = set(agents)
        wanted = sorted(
            (a for a in self.settings.agents if a in asked),
            key=lambda a: a == self.settings.orchestrator,
        )  # stable: config order
        if not wanted:
            return
        with self._lock, self.db.reader() as session:
            connection = session.connection()
            self.tally.refresh(connection)
            for agent in wanted:
                view = agent_view(connection, self.settings, agent, self.tally)
                self._write_files(agent, view)

    def behind(self) -> bool:
        """Whether the ledger holds rows the last write did not count: files handled since
        by another daemon (another host, one database) or by a command."""
        with self._lock, self.db.reader() as session:
            return (ledger.latest_id(session) or 0) != self.tally.files_upto

    def _write_files(self, agent: str, view: dict[str, Any]) -> None:
        folder = self.settings.root_path / "inbox" / agent
        # Markdown first: whoever sees the new status.json finds STATUS.md current too.
        _write_status_file(folder / STATUS_MD, render_markdown(view).encode("utf-8"))
        _write_status_file(
            folder / STATUS_JSON,
            orjson.dumps(view, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS),
        )

    def mark_waiting(self, agents: Iterable[str], reason: str, since: datetime) -> None:
        """Say in the status files that files wait (the database may be unreadable now).

        The last status is kept and a ``waiting`` notice added; the next full write
        (once the database answers) replaces it.
        """
        notice = {"reason": reason, "since": _stamp(since)}
        for agent in [a for a in self.settings.agents if a in set(agents)]:
            folder = self.settings.root_path / "inbox" / agent
            try:
                view = orjson.loads((folder / STATUS_JSON).read_bytes())
            except (OSError, orjson.JSONDecodeError):
                view = None
            if not isinstance(view, dict):  # missing or torn: a minimal view
                view = {"agent": agent}
            view["waiting"] = notice
            # STATUS.md first: whoever sees the notice in status.json finds it in both
            md = folder / STATUS_MD
            text = (
                md.read_text("utf-8", errors="replace")
                if md.exists()
                else f"# inboxd status: {agent}\n"
            )
            banner = f"> waiting: {reason} (since {notice['since']})\n\n"
            if not text.startswith("> waiting:"):
                _write_status_file(md, (banner + text).encode("utf-8"))
            _write_status_file(folder / STATUS_JSON, orjson.dumps(view, option=orjson.OPT_INDENT_2))

    def write_all(self) -> None:
        self.write(self.settings.agents)
