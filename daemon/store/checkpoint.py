"""A large import's WAL copied into the database file on a thread of its own.

Why: SQLite has the commit that leaves the WAL over 1,000 pages copy it back into the
database file (a checkpoint). After a large file that is tens of MB of pages the importing
thread would wait for (docs/performance.md, "The export's checkpoint"). Such a file's
transaction turns that off (``defer``) and a thread checkpoints once it has committed: the
sqlite3 driver lets go of Python's lock while SQLite copies, so the worker goes on with the
next file. Small commits keep SQLite's own checkpoints.

The thread lives only while a checkpoint is due, and is not a daemon thread: a command that
imported a large file ends once its WAL is copied, as it did when its commit copied it.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy.orm import Session

from daemon.logging import get_logger

log = get_logger(__name__)

SQLITE_DEFAULT_PAGES = 1000  # SQLite's own wal_autocheckpoint, restored after
DEFERRED = "inboxd.checkpoint_deferred"  # in a pooled connection's ``info``


class Checkpointer:
    """One SQLite database file's checkpoints after its large imports."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._due = False
        self._thread: threading.Thread | None = None
        self.taken = 0  # checkpoints taken (the tests' count)

    @staticmethod
    def defer(db_session: Session) -> None:
        """This transaction's commit leaves the WAL as it is (``restore`` undoes it when its
        connection goes back to the pool)."""
        pooled = db_session.connection().connection
        pooled.driver_connection.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]
        pooled.info[DEFERRED] = True

    @staticmethod
    def restore(dbapi_connection: Any, record: Any) -> None:
        """The pool's ``checkin``: a connection that deferred takes SQLite's checkpoints again."""
        if record is not None and record.info.pop(DEFERRED, False):
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={SQLITE_DEFAULT_PAGES}")

    def soon(self) -> None:
        """A checkpoint on the thread (started if none runs), after the commit that called."""
        with self._lock:
            self._due = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inboxd-checkpoint")
                self._thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=self.busy_timeout)
        try:
            while self._take_due():
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.taken += 1
                except sqlite3.Error as exc:  # the next checkpoint (or SQLite's own) copies it
                    log.warning("database.checkpoint_failed", path=self.path, error=str(exc))
        finally:
            connection.close()

    def _take_due(self) -> bool:
        """Whether a checkpoint is due (taken now); else the thread ends."""
        with self._lock:
            if not self._due:
                self._thread = None
                return False
            self._due = False
            return True

    def wait(self) -> None:
        """Until no checkpoint is due or under way."""
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
