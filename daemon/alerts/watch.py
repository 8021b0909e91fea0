"""The states no single event tells, looked at on a timer, each change logged once.

- an agent is *silent* when it has open assignments (an assigned session with indicators
  still missing), its last word was not a completion signal, and no file of its own came for
  ``silent_after`` seconds (since its last file, assignment or not, or since this daemon
  started when it has none); ``agent.silent`` when it becomes so, ``agent.active`` when a
  file comes again;
- the *database keeps files waiting* (``file.waiting`` events, the worker's) for longer than
  ``notify_waiting_after``: ``database.waiting``, then ``database.answering`` once a file is
  handled again;
- a *batch closed* (a completion signal imported, its commit done): ``batch.closed`` with the
  gap summary the close recorded.

The queries are the status view's and the coverage's own (``view.RECENT_FILES``,
``view.LAST_SIGNAL``, ``coverage.session_coverage``). Which agents are silent is kept in
``var/run/alerts.json``, so a restart does not tell the same silence again. The listener
(``service``) turns these events into alerts like any other.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.config import Settings
from daemon.fsutil import write_atomic
from daemon.logging import get_logger
from daemon.status.coverage import session_coverage
from daemon.status.current import stamp
from daemon.status.view import LAST_SIGNAL, RECENT_FILES
from daemon.store.engine import Database
from daemon.store.models import utcnow

log = get_logger("inboxd.alerts")

SIGNAL_KIND = "signal"  # handlers/signal.py: the completion signal's handler
# a file that ended so had the database answer (its ledger row written or read)
ANSWERED = frozenset(("imported", "rejected", "failed", "unchanged"))


class Watch:
    def __init__(self, settings: Settings, db: Database, state_file: Path) -> None:
        self.settings = settings
        self.db = db
        self.state_file = state_file
        self.started = utcnow()
        self.silent: set[str] = _read_silent(state_file)
        self._lock = threading.Lock()
        self._signals: set[str] = set()  # agents whose completion signal was just imported
        self._waiting_since: datetime | None = None  # the first waiting file's, this run
        self._waiting_reason = ""
        self._waiting_told: datetime | None = None
        self.rounds = 0  # looks at the agents so far (tests wait on it)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inboxd-alerts-watch", daemon=True)

    # -- fed by the listener, in the thread that logs: record and return ---------------------
    def observe(self, event: Mapping[str, Any]) -> None:
        name = event.get("event", "")
        if not name.startswith("file."):
            return
        if name == "file.waiting" and "since" in event:  # the worker's: the database
            self._waiting(str(event["since"]), str(event.get("reason", "")))
            return
        if event.get("outcome") in ANSWERED and self._waiting_since is not None:
            with self._lock:  # a file handled: the database answers again
                self._waiting_since = None
            self._wake.set()
        if name == "file.imported" and event.get("kind") == SIGNAL_KIND:
            with self._lock:
                self._signals.add(str(event.get("agent")))
            self._wake.set()

    def _waiting(self, since: str, reason: str) -> None:
        try:
            at = datetime.fromisoformat(since)
        except ValueError:
            return
        with self._lock:
            if self._waiting_since is None or at < self._waiting_since:
                self._waiting_since = at
            self._waiting_reason = reason
        self._wake.set()

    # -- the thread ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        next_check = 0.0
        while not self._stopping.is_set():
            _looked_at(self._closed_batches)
            _looked_at(self._database_waiting)  # needs no database: told while it is away
            if time.monotonic() >= next_check:
                _looked_at(self._silent_agents)
                self.rounds += 1
                next_check = time.monotonic() + self.settings.notify_check_seconds
            self._wake.wait(max(0.0, min(next_check - time.monotonic(), 5.0)))
            self._wake.clear()

    def _closed_batches(self) -> None:
        with self._lock:
            agents = sorted(self._signals)
        for agent in agents:
            with self.db.reader() as reader:
                row = reader.execute(LAST_SIGNAL, {"agent": agent}).first()
            with self._lock:  # read: told below (a failed read is tried again next round)
                self._signals.discard(agent)
            if row is None or row.outcome != "closed":
                continue  # a repeated signal: nothing closed, nothing to tell
            findings = row.findings or {}
            log.info(
                "batch.closed",
                agent=agent,
                batch=row.batch_no,
                missing_sessions=findings.get("missing_sessions", []),
                missing_indicators=findings.get("missing_indicators", {}),
                claims_disagree=[c for c in findings.get("claims", []) if not c.get("agrees")],
                pairs=(findings.get("database") or {}).get("pairs"),
                report=findings.get("gap_report"),
            )

    def _database_waiting(self) -> None:
        with self._lock:
            since, reason = self._waiting_since, self._waiting_reason
        now = utcnow()
        if since is not None and self._waiting_told is None:
            waited = (now - since).total_seconds()
            if waited >= self.settings.notify_waiting_after:
                self._waiting_told = since
                log.warning(
                    "database.waiting",
                    since=stamp(since),
                    waiting_s=round(waited),
                    reason=reason,
                )
        elif since is None and self._waiting_told is not None:
            waited = (now - self._waiting_told).total_seconds()
            self._waiting_told = None
            log.info("database.answering", waited_s=round(waited))

    def _silent_agents(self) -> None:
        before = set(self.silent)
        for agent in self.settings.agents:
            self._look_at(agent)
        if self.silent != before:
            write_atomic(self.state_file, json.dumps({"silent": sorted(self.silent)}).encode())

    def _look_at(self, agent: str) -> None:
        with self.db.reader() as reader:
            last = reader.execute(RECENT_FILES, {"agent": agent, "limit": 1}).first()
            coverage = session_coverage(reader, agent)
        open_sessions = [c.number for c in coverage if c.missing]
        quiet_for = utcnow() - (last.processed_at if last is not None else self.started)
        silent = (
            bool(open_sessions)
            and (last is None or last.kind != SIGNAL_KIND)
            and quiet_for.total_seconds() >= self.settings.silent_after
        )
        if silent and agent not in self.silent:
            self.silent.add(agent)
            log.warning(
                "agent.silent",
                agent=agent,
                silent_s=round(quiet_for.total_seconds()),
                last_file=last.rel_path if last is not None else None,
                last_at=stamp(last.processed_at) if last is not None else None,
                open_sessions=open_sessions,
            )
        elif not silent and agent in self.silent:
            self.silent.discard(agent)
            log.info("agent.active", agent=agent, path=last.rel_path if last is not None else None)


def _looked_at(check: Callable[[], None]) -> None:
    """One check; a failure (the database away) is logged and the check runs next round."""
    try:
        check()
    except Exception as exc:
        log.warning(
            "alert.check_failed", check=check.__name__, error=f"{type(exc).__name__}: {exc}"[:300]
        )


def _read_silent(path: Path) -> set[str]:
    try:
        found = json.loads(path.read_text("utf-8")).get("silent", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {str(agent) for agent in found} if isinstance(found, list) else set()
