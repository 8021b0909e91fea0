"""The figures each page and API answer shows, read from the database when asked.

Everything an agent is told comes from ``daemon/status/view`` (``agent_view``, the
coverage and gap figures, the refinement queue); this module only arranges it for a page and
adds what only a page asks (the files table filtered, a session's files, the pairs-over-time
series). One ``StoredTally``, refreshed by each request under a lock, keeps the whole-table
figures current by reading only what was added since (the overview stays fast at a million
pairs: docs/dashboard.md, "Performance").
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, func, select

from daemon.cli import logview
from daemon.config import Settings
from daemon.dataset.manifest import list_snapshots
from daemon.ingest.outcome import FileOutcome
from daemon.status.coverage import SessionCoverage, gaps, session_coverage
from daemon.status.current import stamp
from daemon.status.tally import TIERS, StoredTally
from daemon.status.view import (
    FILE_COLUMNS,
    LAST_SIGNAL,
    RECENT_FILES,
    agent_view,
    database_totals,
    file_entry,
    refinement_queue,
    status_summary,
)
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow, utcnow

MAX_FILES_SHOWN = 1000
DEFAULT_EVENTS_SHOWN = 200
DEFAULT_FILES_SHOWN = 200
SESSION_STATES = ("imported", "delivered", "assigned", "missing", "planned")

# each file that stored pairs, after the last one read: the pairs-over-time series
NEW_STORING_FILES = (
    select(FileRecord.id, FileRecord.processed_at, FileRecord.pairs_stored)
    .where(FileRecord.id > bindparam("above"), FileRecord.pairs_stored > 0)
    .order_by(FileRecord.id)
)
MARK = select(
    select(func.max(FileRecord.id)).scalar_subquery(),
    select(func.max(QAPairRow.qa_id)).scalar_subquery(),
)
SESSION_FILE_IDS = (
    select(QAPairRow.source_file_id)
    .distinct()
    .where(QAPairRow.session_number == bindparam("number"))
)


class LiveSource(Protocol):
    """The running daemon, when the page is served beside it (``Daemon.live_figures``)."""

    outcome_observers: list[Callable[[FileOutcome], None]]

    def live_figures(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class EventQuery:
    """The log page's filters: those of ``inboxd logs``."""

    agent: str | None = None
    level: str | None = None
    event: str | None = None
    since: str | None = None
    lines: int = DEFAULT_EVENTS_SHOWN


@dataclass(frozen=True)
class FileQuery:
    """The files page's filters; every one given must hold."""

    agent: str | None = None
    outcome: str | None = None
    kind: str | None = None
    text: str | None = None  # part of the path
    limit: int = DEFAULT_FILES_SHOWN


def ago(seconds: float | None) -> str:
    """How long ago, as a person says it: 40 s, 12 min, 3 h, 2 d."""
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{max(int(seconds), 0)} s ago"


class Board:
    """The read side of the dashboard: one database, one tally, a lock between requests."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        live: LiveSource | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.db = db
        self.live = live
        self._clock = clock
        self._lock = threading.Lock()
        self._tally = StoredTally()
        self._series: list[tuple[datetime, int]] = []  # (time, pairs stored by then)
        self._series_upto = 0  # the highest ledger id read into it

    @contextmanager
    def reading(self) -> Iterator[tuple[Connection, StoredTally]]:
        """A connection and the tally brought up to date, one request at a time."""
        with self._lock, self.db.engine.connect() as connection:
            self._tally.refresh(connection)
            yield connection, self._tally

    # -- what changed ----------------------------------------------------------------------
    def mark(self) -> str:
        """Changes whenever a file is handled or a pair stored (``inboxd retry`` replaces a
        ledger row under a new id): the open page then draws itself again. Two primary-key
        lookups, no tally: an open page asks this several times a second."""
        with self.db.engine.connect() as connection:
            files, pairs = connection.execute(MARK).one()
        return f"{files or 0}-{pairs or 0}"

    # -- the API -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self.reading() as (connection, tally):
            return status_summary(connection, self.settings, self.settings.agents, tally)

    def agent(self, agent: str) -> dict[str, Any]:
        with self.reading() as (connection, tally):
            return agent_view(connection, self.settings, agent, tally)

    # -- the pages ---------------------------------------------------------------------------
    def overview(self) -> dict[str, Any]:
        now = self._clock()
        with self.reading() as (connection, tally):
            views = [
                agent_view(connection, self.settings, agent, tally)
                for agent in self.settings.agents
            ]
            cards = [self._card(connection, view, now) for view in views]
            overall = gaps(session_coverage(connection, stored=tally.pairs_by_session()))
            totals = database_totals(connection, tally)
            series = self._pairs_series(connection)
        return {
            "cards": cards,
            "totals": totals,
            "target": overall.target_pairs,
            "toward_target": overall.pairs_toward_target,
            "percent": _percent(overall.pairs_toward_target, overall.target_pairs),
            "missing_sessions": overall.missing_sessions,
            "series": series,
            "live": self.live_figures(now),
            "now": stamp(now),
        }

    def live_figures(self, now: datetime | None = None) -> dict[str, Any] | None:
        """The running daemon's queue and waits, or None when the page runs alone."""
        if self.live is None:
            return None
        figures = dict(self.live.live_figures())
        since = figures.get("waiting_since")
        waited = ((now or self._clock()) - since).total_seconds() if since else 0.0
        figures["waiting_seconds"] = max(waited, 0.0)
        return figures

    def _card(self, connection: Connection, view: dict[str, Any], now: datetime) -> dict[str, Any]:
        sessions, pairs = view["sessions"], view["pairs"]
        last = connection.execute(RECENT_FILES, {"agent": view["agent"], "limit": 1}).first()
        age = (now - last.processed_at).total_seconds() if last is not None else None
        owes = bool(sessions["missing"] or sessions["missing_indicators"])
        silent = age > self.settings.silent_after if age is not None else owes
        return {
            "agent": view["agent"],
            "assigned": len(sessions["assigned"]),
            "delivered": len(sessions["delivered"]),
            "imported": len(sessions["imported"]),
            "missing": len(sessions["missing"]),
            "pairs": pairs["imported"],
            "duplicates": pairs["duplicates_skipped"],
            "near_duplicates": pairs["near_duplicates"],  # found in its deliveries (issue 18)
            "rejected": len(view["rejected"]),
            "last_delivery": stamp(last.processed_at) if last is not None else None,
            "ago": ago(age),
            "silent": silent,
            "signal": view["signal"],
            "progress": view["progress"],
            "waiting": len(view["waiting_files"]),
        }

    def _pairs_series(self, connection: Connection) -> list[tuple[datetime, int]]:
        """Pairs stored over time, one point per file that stored some; read incrementally
        (the ledger only grows, but ``inboxd retry`` may replace its latest rows)."""
        if (self._tally.files_upto or 0) < self._series_upto:
            self._series, self._series_upto = [], 0
        total = self._series[-1][1] if self._series else 0
        for row_id, at, stored in connection.execute(
            NEW_STORING_FILES, {"above": self._series_upto}
        ):
            total += stored
            self._series.append((at, total))
            self._series_upto = row_id
        return list(self._series)

    def files(self, query: FileQuery) -> list[dict[str, Any]]:
        statement = select(FileRecord.id, FileRecord.agent, *FILE_COLUMNS)
        if query.agent:
            statement = statement.where(FileRecord.agent == query.agent)
        if query.outcome:
            statement = statement.where(FileRecord.outcome == query.outcome)
        if query.kind:
            statement = statement.where(FileRecord.kind == query.kind)
        if query.text:
            statement = statement.where(FileRecord.rel_path.contains(query.text, autoescape=True))
        statement = statement.order_by(FileRecord.id.desc()).limit(
            max(1, min(query.limit, MAX_FILES_SHOWN))
        )
        with self.db.engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [{"id": row.id, "agent": row.agent, **file_entry(row)} for row in rows]

    def file_choices(self) -> dict[str, list[str]]:
        """The values the files page's filters offer."""
        with self.db.engine.connect() as connection:
            kinds = connection.scalars(select(FileRecord.kind).distinct()).all()
        return {
            "agents": list(self.settings.agents),
            "outcomes": ["imported", "rejected", "failed", "unchanged", "refused", "ignored"],
            "kinds": sorted(k for k in kinds if k),
        }

    def sessions(self) -> list[dict[str, Any]]:
        """Every known session with its state (docs/dashboard.md, "Sessions")."""
        with self.reading() as (connection, tally):
            coverage = session_coverage(connection, stored=tally.pairs_by_session())
            closed = {agent for agent in {c.agent for c in coverage} if _closed(connection, agent)}
            return [
                {
                    **c.as_dict(),
                    "state": _session_state(c, tally, c.agent in closed),
                }
                for c in coverage
            ]

    def session(self, number: int) -> dict[str, Any] | None:
        """One session: its indicators (expected, delivered, missing) and its files."""
        with self.reading() as (connection, tally):
            found = [
                c
                for c in session_coverage(connection, stored=tally.pairs_by_session())
                if c.number == number
            ]
            if not found:
                return None
            ids = [i for i in connection.scalars(SESSION_FILE_IDS, {"number": number}) if i]
            rows = connection.execute(
                select(FileRecord.id, FileRecord.agent, *FILE_COLUMNS)
                .where(FileRecord.id.in_(ids))
                .order_by(FileRecord.id.desc())
            ).all()
            state = _session_state(found[0], tally, _closed(connection, found[0].agent))
        files = [{"id": row.id, "agent": row.agent, **file_entry(row)} for row in rows]
        return {**found[0].as_dict(), "state": state, "files": files}

    def refinement(self) -> dict[str, Any]:
        with self.db.engine.connect() as connection:
            queue = refinement_queue(connection)
            tiers = dict(connection.execute(TIERS).all())
        return {"queue": queue, "tiers": tiers, "refiner": self.settings.refiner}

    def datasets(self) -> list[dict[str, Any]]:
        shown = []
        for listed in reversed(list_snapshots(self.settings.dataset_dir)):  # newest first
            manifest = listed.manifest
            shown.append(
                {
                    "name": listed.name,
                    "problem": listed.problem,
                    "manifest": manifest.model_dump(mode="json") if manifest else None,
                }
            )
        return shown

    def events(self, query: EventQuery) -> tuple[list[dict[str, str]], str | None]:
        """The last matching log events, newest first, read as ``inboxd logs`` reads them;
        or a filter the reader cannot take, said as ``inboxd logs`` says it."""
        try:
            log_filter = logview.LogFilter(
                agent=query.agent or None,
                min_level=logview.normalise_level(query.level) if query.level else None,
                event=query.event or None,
                since=logview.parse_since(query.since) if query.since else None,
            )
        except ValueError as exc:
            return [], str(exc)
        log_file = self.settings.log_file
        rotated = logview.log_files(log_file, log_filter.since)[:-1]
        shown: deque[dict[str, Any]] = deque(
            logview.read_events(rotated, log_filter), maxlen=query.lines
        )
        shown.extend(logview.read_history(log_file, log_filter, query.lines)[0])
        return [
            {
                "time": logview.short_time(event),
                "level": str(event.get("level", "-")),
                "event": str(event.get("event", "-")),
                "fields": logview.event_fields(event),
            }
            for event in reversed(shown)
        ], None

    def ready(self) -> bool:
        """The database answers, and the daemon beside the page (if any) has caught up."""
        try:
            with self.db.engine.connect() as connection:
                connection.execute(select(1)).scalar()
        except Exception:
            return False
        return self.live is None or bool(self.live.live_figures()["ready"])


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _closed(connection: Connection, agent: str) -> bool:
    signal = connection.execute(LAST_SIGNAL, {"agent": agent}).first()
    return signal is not None


def _session_state(c: SessionCoverage, tally: StoredTally, batch_closed: bool) -> str:
    """imported: every indicator stored; delivered: some pairs (or only duplicates) but
    indicators still owed; planned: from SESSION_INDEX.md only, nothing stored; missing:
    assigned, nothing stored, and its agent has closed its batch; assigned: not yet."""
    if c.pairs and not c.missing:
        return "imported"
    if c.pairs or c.number in tally.duplicate_only_sessions(c.agent):
        return "delivered"
    if c.origin != "assignment":
        return "planned"
    return "missing" if batch_closed else "assigned"
