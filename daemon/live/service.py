"""The running daemon: observer + catch-up scan feed a queue; one worker runs the pipeline.

``start()``, ``stop(timeout)`` and ``join()`` (wait until the queue is empty) make it easy
to drive from the CLI and from tests.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from daemon.alerts.service import Alerts
from daemon.config import Settings
from daemon.errors import TransientError
from daemon.ingest import ledger
from daemon.ingest.assembly import assemble
from daemon.ingest.oneshot import prepare
from daemon.ingest.outcome import FileOutcome
from daemon.ingest.paths import SIGNAL_PREFIX, Candidate, Location, locate, scan_tree
from daemon.live.notify import Notifier
from daemon.live.watcher import (
    DeliveryEventHandler,
    OpenFiles,
    OverflowDetector,
    dead_thread,
    files_open_for_writing,
    make_observer,
)
from daemon.live.workqueue import WorkQueue
from daemon.logging import get_logger
from daemon.store.engine import Database
from daemon.store.locks import BusyElsewhere
from daemon.store.models import utcnow

log = get_logger("inboxd.daemon")

TRANSIENT_RETRY_SECONDS = 2.0
STATUS_LINE_SECONDS = 1.0  # how often systemd's STATUS= line is refreshed


class Daemon:
    def __init__(
        self, settings: Settings, db: Database | None = None, notifier: Notifier | None = None
    ) -> None:
        self.settings = settings
        self.notifier = notifier or Notifier(None)
        self.db = db or Database.for_settings(settings)
        self.pipeline, self.status = assemble(settings, self.db, self._status_due)
        self.alerts = Alerts(settings, self.db)
        self.open_files = OpenFiles()
        self.queue = WorkQueue(
            settings.settle_seconds,
            held_open=self.open_files.is_open,
            waits_for=self._batch_folder,
        )
        self.counts: Counter[str] = Counter()
        self.ready = threading.Event()
        self.last_file: str | None = None
        # told each file's outcome on the worker thread (``inboxd run --http``'s metrics):
        # an observer must be quick and must not raise
        self.outcome_observers: list[Callable[[FileOutcome], None]] = []
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._handler = DeliveryEventHandler(
            settings,
            self.queue,
            self.open_files,
            self._event_error,
            self.pipeline.waiting.holds,
            self._overflowed,
        )
        self._observer = make_observer(settings, self._handler)
        self._overflow = OverflowDetector(self._overflowed)
        self._rescan_reason: str | None = None
        self._last_rescan = time.monotonic()
        self._dirty_status: set[str] = set()
        self._last_status_write = 0.0
        self._status_cost = 0.0  # seconds the last status write took
        self._status_failing_since: float | None = None  # monotonic, while writes fail
        self._last_refresh_check = 0.0
        self._waiting_since: dict[Path, datetime] = {}
        self._last_ping = 0.0
        self._last_status_line = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        prepare(self.settings, self.db)
        self.alerts.start()
        self.status.write_all()  # also repairs a torn status file left by a crash
        self._overflow.install()
        self._observer.start()  # before the scan: nothing can fall between the two
        self.rescan(reason="start")
        log.info(
            "daemon.started",
            root=str(self.settings.root_path),
            database=self._safe_url(),
            agents=self.settings.agents,
            polling=self.settings.polling,
        )
        if self.queue.depth() == 0:
            # nothing to catch up on: ready now, not after the worker's first idle wait
            self._set_ready()
        self._worker = threading.Thread(target=self._work, name="inboxd-worker", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Warm stop: the file in hand is finished, queued ones wait for the next start."""
        self.notifier.stopping()
        self._stopping.set()
        self._overflow.uninstall()
        try:
            self._observer.stop()
            self._observer.join(timeout)
        except RuntimeError:
            pass  # never started
        if self._worker is not None:
            self._worker.join(timeout)
        self._flush_status(force=True)
        log.info("daemon.stopped", cold=False, **dict(self.counts), queued=self.queue.depth())
        self.alerts.stop()
        self.db.dispose()

    def stopped_cold(self) -> None:
        """Log a cold stop (a second SIGTERM) before the process ends at once: the file in
        hand is rolled back with the process, and the log says so."""
        log.info("daemon.stopped", cold=True, **dict(self.counts), queued=self.queue.depth())

    def join(self, timeout: float = 30.0) -> bool:
        """Wait until every queued file is handled and its status written; False on timeout."""
        deadline = time.monotonic() + timeout
        if not self.queue.wait_idle(timeout):
            return False
        while self._dirty_status:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def live_figures(self) -> dict[str, Any]:
        """What the dashboard (daemon/web, ``inboxd run --http``) shows of the running daemon
        beside the database's figures. Called from the HTTP server's thread: it only reads
        values a lock or a copy keeps whole, and costs the worker nothing."""
        waiting = list(self._waiting_since.values())  # one step: the worker may change it
        return {
            "ready": self.ready.is_set(),
            "queue_depth": self.queue.depth(),
            "waiting_since": min(waiting) if waiting else None,  # naive UTC
            "counts": dict(self.counts),
        }

    def rescan(self, reason: str) -> int:
        """Queue every file not yet handled; unchanged (size, mtime, ctime) files are not read.

        Runs over the whole tree at each start: a handled file costs one lstat and a
        dictionary lookup on strings; paths, ordering and the open-file check are only for
        the files that are queued.
        """
        root = self.settings.root_path  # resolved once, not per file
        with self.db.reader() as db_session:
            handled = ledger.handled_versions(db_session)
        # after an overflow or at start, inotify's open counts are unknown: ask /proc (for
        # every file, queued or not: a writer may have opened a handled file to append)
        for path in files_open_for_writing(root):
            self.open_files.held_by_writer(path)
        files = 0
        due: list[tuple[Candidate, os.stat_result]] = []
        for found in scan_tree(self.settings, root):
            files += 1
            try:
                stat = found.entry.stat(follow_symlinks=False)  # lstat: links are not followed
            except OSError:
                continue
            if ledger.read_already(handled, found.rel_root, stat):
                continue
            due.append((found, stat))
        due.sort(key=lambda item: item[0].order)
        for found, stat in due:
            path = Path(found.path)
            at_rest = time.time() - stat.st_mtime > self.settings.settle_seconds
            self.queue.put(path, ready=at_rest and not self.open_files.is_open(path))
        # a waiting file is tried again (only read if it changed); one deleted unseen leaves
        for path in self.pipeline.waiting.paths():
            self.queue.put(path, ready=True)
        queued = len(due)
        log.info("daemon.rescan", reason=reason, files=files, queued=queued)
        self._last_rescan = time.monotonic()
        return queued

    # -- the worker ------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stopping.is_set():
            self._alive()
            paths: list[Path] = []
            wait = 0.1
            if self._dirty_status:
                # a status is owed: files due now come first (a burst coalesces its
                # writes); with none due the worker is idle and writes it now, or as soon
                # as its cost allows (a deferred write is also done by the idle round)
                paths = self._take(timeout=0.0)
                if not paths:
                    owed = self._flush_status(force=False, idle=True)
                    if owed > 0:
                        wait = min(wait, owed)
            if not paths:
                paths = self._take(timeout=wait)
            if not paths:
                if not self.ready.is_set() and self.queue.depth() == 0:
                    self._set_ready()
                try:
                    self._housekeeping()
                except Exception:  # e.g. a rescan while the database is away: try next round
                    self.counts["housekeeping_error"] += 1
                    log.exception("worker.housekeeping_failed")
                continue
            try:
                if len(paths) == 1:
                    self._handle(paths[0])
                else:
                    self._handle_group(paths)
                self._flush_status(force=False)  # if due by the burst rule; else see above
            finally:
                self.queue.done(len(paths))

    def _take(self, timeout: float) -> list[Path]:
        """The files due now, as many as a group may hold (group commit under a burst)."""
        return self.queue.take(
            timeout, self.settings.group_max_files, self.settings.group_max_bytes
        )

    def _handle(self, path: Path) -> None:
        """One file; whatever happens, the worker goes on with the next."""
        try:
            self._handled(path, self.pipeline.process(path))
        except TransientError as exc:
            self._must_wait(path, exc)
        except Exception:
            self.counts["worker_error"] += 1
            log.exception("worker.error", path=str(path))

    def _handle_group(self, paths: list[Path]) -> None:
        """Files taken together: one transaction; should the group itself fail (a bug),
        each file is handled again alone, so none is lost."""
        try:
            outcomes = self.pipeline.process_group(paths)
        except Exception:
            self.counts["worker_error"] += 1
            log.exception("worker.group_error", files=len(paths), first=str(paths[0]))
            for path in paths:
                self._handle(path)
            return
        for path, outcome in zip(paths, outcomes, strict=True):
            if isinstance(outcome, BusyElsewhere):  # not waiting: another daemon has it
                self.queue.retry_later(path, TRANSIENT_RETRY_SECONDS)
            elif isinstance(outcome, TransientError):
                self._must_wait(path, outcome)
            else:
                self._handled(path, outcome)

    def _handled(self, path: Path, outcome: FileOutcome) -> None:
        self.counts[outcome.outcome] += 1
        for observe in self.outcome_observers:  # the dashboard's import histogram
            observe(outcome)
        self.last_file = outcome.path
        self._waiting_since.pop(path, None)

    def _must_wait(self, path: Path, exc: TransientError) -> None:
        """A file the database could not take now: back in the queue, shown as waiting."""
        self.counts["waiting"] += 1
        since = self._waiting_since.setdefault(path, utcnow())
        log.warning(
            "file.waiting",
            path=str(path),
            reason=str(exc),
            since=since.isoformat(timespec="seconds"),
        )
        self.queue.retry_later(path, TRANSIENT_RETRY_SECONDS)
        try:
            self.status.mark_waiting(self._agent_of(path), str(exc), since)
        except Exception:  # a torn status file must not stop the worker
            log.exception("status.waiting_notice_failed", path=str(path))

    def _agent_of(self, path: Path) -> set[str]:
        where = locate(self.settings, path)
        agents = {self.settings.orchestrator}
        if isinstance(where, Location):
            agents.add(where.agent)
        return agents

    def _batch_folder(self, path: Path) -> Path | None:
        """For a completion signal, its agent's folder: the signal is taken only once no data
        file of that folder is queued, settling or being written (a batch is closed whole)."""
        if not path.name.upper().startswith(SIGNAL_PREFIX):
            return None
        where = locate(self.settings, path)
        if not isinstance(where, Location):
            return None
        folder = where.path
        for _part in where.rel_path.parts:  # up to <root>/<box>/<agent>, as found on disk
            folder = folder.parent
        return folder

    def _status_due(self, agents: set[str]) -> None:
        self._dirty_status |= agents

    def _flush_status(self, *, force: bool, idle: bool = False) -> float:
        """Write the status of the agents touched since the last write, when it is due;
        return the seconds until a write still owed is due (0.0: nothing owed).

        ``force`` (housekeeping, stop): now. ``idle`` (no file is due: the worker would only
        wait): now, so an agent sees its file's outcome at once, unless the last write was
        less than four times its cost ago. Otherwise (a burst: files are due) at most every
        ``status_interval``, or four times the cost when slower: a burst's writes are
        coalesced, and the worker writes the last one as soon as the queue runs dry. Either
        way status writing takes at most a fifth of the worker's time.
        """
        if not self._dirty_status:
            return 0.0
        now = time.monotonic()
        gap = 4 * self._status_cost
        if not idle:
            gap = max(self.settings.status_interval, gap)
        wait = self._last_status_write + gap - now
        if not force and wait > 0:
            return wait
        agents = set(self._dirty_status)
        try:
            self.status.write(agents)
        except Exception as exc:  # the database may be away: the agents stay due
            self._status_write_failed(agents, exc, now)
            # retried by the idle rounds' housekeeping, not in a tight loop
            self._last_status_write = time.monotonic()
            self._status_cost = max(self._status_cost, self.settings.status_interval)
            return 4 * self._status_cost
        if self._status_failing_since is not None:
            log.info(
                "status.write_recovered", failed_for_s=round(now - self._status_failing_since, 1)
            )
            self._status_failing_since = None
        self._dirty_status -= agents  # only now: join() waits for this set to empty
        self._last_status_write = time.monotonic()
        self._status_cost = self._last_status_write - now
        return 0.0

    def _status_write_failed(self, agents: set[str], exc: Exception, now: float) -> None:
        """Log a failed status write: the first of a run of failures with its traceback,
        the next ones (every few seconds while the database is away) as one short line."""
        if self._status_failing_since is None:
            self._status_failing_since = now
            log.exception("status.write_failed", agents=sorted(agents))
        else:
            log.warning(
                "status.write_failed",
                agents=sorted(agents),
                error=f"{type(exc).__name__}: {exc}".splitlines()[0],
                failing_for_s=round(now - self._status_failing_since, 1),
            )

    def _overflowed(self) -> None:
        """Called from watchdog's threads, twice an overflow (its log record, then its
        ``EventsLostEvent`` once its watches are back): open counts are replaced by what
        /proc shows, in one step (a writer's file must never look closed, not even while
        /proc is read), and the worker rescans."""
        self._writers_from_proc()
        self._rescan_reason = "inotify queue overflow"

    def _writers_from_proc(self) -> None:
        """Events were lost: who holds which file open for writing is read again from /proc."""
        self.open_files.replace_with(files_open_for_writing(self.settings.root_path))

    def _set_ready(self) -> None:
        self.ready.set()
        self.notifier.ready(self._status_line())
        log.info("daemon.ready", **dict(self.counts))

    def _alive(self) -> None:
        """Called by the worker loop only: a hung worker stops the pings, systemd restarts us."""
        now = time.monotonic()
        interval = self.notifier.watchdog_interval()
        if interval is not None and now - self._last_ping >= interval:
            self.notifier.watchdog()
            self._last_ping = now
        if self.notifier.enabled and now - self._last_status_line >= STATUS_LINE_SECONDS:
            self.notifier.status(self._status_line())
            self._last_status_line = now

    def _status_line(self) -> str:
        return f"queue {self.queue.depth()}; last file {self.last_file or '-'}"

    def reload(self, settings: Settings) -> None:
        """SIGHUP: new agents, patterns and thresholds; queued files are kept."""
        self.notifier.reloading()
        old = self.settings
        self.settings = settings
        self.pipeline.settings = settings
        self.status.settings = settings
        self._handler.settings = settings
        self.queue.settle = settings.settle_seconds
        if (settings.root_path, settings.polling) != (old.root_path, old.polling):
            self._new_observer()
            self._rescan_reason = "reload"
        changed = sorted(
            k for k in settings.model_fields if getattr(settings, k) != getattr(old, k)
        )
        log.info("daemon.reloaded", changed=changed, queued=self.queue.depth())
        self.notifier.ready(self._status_line())

    def _housekeeping(self) -> None:
        self._refresh_if_changed()
        self._flush_status(force=True)
        if self._rescan_reason is not None:
            reason, self._rescan_reason = self._rescan_reason, None
            log.warning("watcher.overflow", action="rescan", reason=reason)
            self.rescan(reason=reason)
        elif (dead := dead_thread(self._observer)) and not self._stopping.is_set():
            log.error("watcher.restarted", reason=f"{dead} thread died")
            self._new_observer()
            self._writers_from_proc()  # its events are lost, closes among them
            self.rescan(reason="observer restarted")
        elif time.monotonic() - self._last_rescan >= self.settings.rescan_seconds:
            self.rescan(reason="periodic")

    def _new_observer(self) -> None:
        """The observer replaced (a reload that moved the root, or a thread of it died): the
        old one's threads are stopped, which gives its inotify instance back, and a new one
        starts."""
        with contextlib.suppress(RuntimeError, OSError):  # partly dead: stop what is left
            self._observer.stop()
            self._observer.join(10)
        self._observer = make_observer(self.settings, self._handler)
        self._observer.start()

    def _refresh_if_changed(self) -> None:
        """Every agent's status is due again when the ledger holds files the last status
        write did not count: handled by another daemon (another host) or by a command."""
        interval = self.settings.status_refresh_seconds
        now = time.monotonic()
        if interval <= 0 or now - self._last_refresh_check < interval:
            return
        self._last_refresh_check = now
        try:
            behind = self.status.behind()
        except SQLAlchemyError:  # the database is away: look again next time (the files
            return  # waiting for it say so in the status)
        if behind:
            self._status_due(set(self.settings.agents))

    def _event_error(self, exc: BaseException) -> None:
        log.error("watcher.event_error", error=repr(exc))

    def _safe_url(self) -> str:
        return self.db.engine.url.render_as_string(hide_password=True)
