"""Status written back into each agent's inbox: a view of the database, nothing more.

``inbox/<agent>/status.json`` for programs and ``STATUS.md`` for reading, written
atomically. They can always be rebuilt from the database (``inboxd status --write``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection

from daemon.config import Settings
from daemon.fsutil import write_atomic
from daemon.ingest import ledger
from daemon.ingest.waiting import WaitingFiles
from daemon.logging import get_logger
from daemon.status.current import COUNTED_KEY, COUNTED_SQL, STATUS_JSON, counted_record, stamp
from daemon.status.render import render_markdown
from daemon.status.tally import FULL_RECOUNT_SECONDS, StoredTally, fresh_tally
from daemon.status.view import agent_view
from daemon.store.engine import Database

STATUS_MD = "STATUS.md"
log = get_logger("inboxd.status")


def _write_status_file(path: Path, data: bytes) -> None:
    """Temp, fsync, rename, fsync the folder (an agent never reads a torn or lost status);
    the old version's blocks are freed off the writer's path (see ``write_atomic``)."""
    write_atomic(path, data, release_old_later=True)


class StatusWriter:
    """Writes the status of the agents a file concerns (configured agents only)."""

    def __init__(
        self, settings: Settings, db: Database, waiting: WaitingFiles | None = None
    ) -> None:
        self.settings = settings
        self.db = db
        # the pipeline's, shown in each status
        self.waiting = waiting if waiting is not None else WaitingFiles()
        self.tally = StoredTally()  # whole-table counts, kept across writes
        self._lock = threading.Lock()  # one write at a time: the tally is shared
        self._recount_due = time.monotonic() + FULL_RECOUNT_SECONDS
        self._recounting: threading.Thread | None = None
        self._recounted: StoredTally | None = None  # counted afresh, for the next write

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
        with self._lock, self.db.reader() as db_session:
            connection = db_session.connection()
            counted = self._counted(connection)  # first: a change after it makes it old
            if self._recounted is not None:  # it reads only what came since its count
                self.tally, self._recounted = self._recounted, None
            self.tally.refresh(connection)
            for agent in wanted:
                view = agent_view(
                    connection, self.settings, agent, self.tally, self.waiting.of(agent)
                )
                if counted is not None:
                    view[COUNTED_KEY] = counted
                self._write_files(agent, view)
            self._recount_when_due()

    def _recount_when_due(self) -> None:
        """Every ``FULL_RECOUNT_SECONDS``, a tally counted afresh on a thread of its own
        (which catches an update made behind inboxd's back): at a million pairs that count
        takes longer than a status write should (docs/performance.md, "Status at a million
        pairs"). SQLite and PostgreSQL do the counting with the interpreter's lock released.
        Called under the write lock: one count at a time."""
        if time.monotonic() < self._recount_due:
            return
        if self._recounting is not None and self._recounting.is_alive():
            return
        self._recount_due = time.monotonic() + FULL_RECOUNT_SECONDS
        self._recounting = threading.Thread(
            target=self._count_afresh, name="inboxd-status-recount", daemon=True
        )
        self._recounting.start()

    def _count_afresh(self) -> None:
        try:
            with self.db.reader() as db_session:
                recounted = fresh_tally(db_session.connection())
        except Exception as exc:  # the database away, say: the writes go on with their own
            log.warning("status.recount_failed", reason=str(exc) or repr(exc))
            return
        with self._lock:
            self._recounted = recounted

    def _counted(self, connection: Connection) -> dict[str, Any] | None:
        """What the views are counted from (``daemon/status/current``): on SQLite, where
        ``inboxd status`` can read it without SQLAlchemy; None on PostgreSQL."""
        if connection.dialect.name != "sqlite":
            return None
        result = connection.exec_driver_sql(COUNTED_SQL)
        return counted_record(self.settings, list(result.keys()), tuple(result.one()))

    def behind(self) -> bool:
        """Whether the ledger holds rows the last write did not count: files handled since
        by another daemon (another host, one database) or by a command."""
        with self._lock, self.db.reader() as db_session:
            return (ledger.latest_id(db_session) or 0) != self.tally.files_upto

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
        notice = {"reason": reason, "since": stamp(since)}
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
