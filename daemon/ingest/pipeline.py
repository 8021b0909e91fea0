"""The one path every file takes: locate -> read -> dedupe -> parse -> import -> record.

The live watcher, ``scan``, ``process`` and ``retry`` all call ``Pipeline.process``; there
is no second import path. One file is one database transaction: the ledger row and every
row the importer writes commit together or not at all.

Each stage below is one method, in the order a file meets them. A stage hands the next one
its value (a ``Delivery`` inside a ``ReadFile``, then a ``Parsed``) or ends the file with
its ``FileOutcome``; a file that is not imported is recorded in the ledger all the same, so
a rescan skips it like any handled file.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

import handlers
from daemon.config import Settings
from daemon.errors import TransientError
from daemon.ingest import ledger
from daemon.ingest.archive import archive_copy, archive_stream, hash_file
from daemon.ingest.delivery import Delivery, Parsed, ReadFile, Refused, StreamedFile
from daemon.ingest.importers import IMPORTERS, ImportContext, ImportResult
from daemon.ingest.paths import Ignored, Location, escapes_root, locate
from daemon.ingest.retrying import read_whole, with_db_retry
from daemon.ingest.waiting import WaitingFiles, signature, unreadable_reason
from daemon.logging import get_logger
from daemon.store.backup import automatic_backup
from daemon.store.engine import Database
from daemon.store.locks import KeyConflict, is_question_key_conflict
from daemon.store.models import utcnow
from handlers.base import FileContext, Handler, Rejected, StreamParser
from handlers.streaming import QAStream, StreamRejected

log = get_logger("inboxd.pipeline")

StatusHook = Callable[[set[str]], None]
Progress = Callable[[int, int], None]  # (done, total) for a person's terminal


@dataclass
class FileOutcome:
    """What became of one file; ``outcome`` is one of OUTCOMES."""

    path: str
    outcome: str
    agent: str | None = None
    kind: str | None = None
    reason: str | None = None
    result: ImportResult = field(default_factory=ImportResult)
    ms: float = 0.0
    repeat: bool = False  # said already (a file still waiting): not logged or shown again


OUTCOMES = (
    "imported",
    "rejected",
    "failed",
    "unchanged",
    "ignored",
    "vanished",
    "dry-run",
    "waiting",  # the daemon may not read it: shown in the agent's status, not in the ledger
)
SHOWN = ("imported", "rejected", "failed", "waiting")  # outcomes an agent's status shows


class Pipeline:
    """Turns one path into at most one ledger row and its imported data."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        on_status: StatusHook | None = None,
        waiting: WaitingFiles | None = None,
    ) -> None:
        handlers.check_registry()
        missing = {h.importer for h in handlers.HANDLERS} - set(IMPORTERS)
        if missing:
            raise RuntimeError(f"handlers name importers that do not exist: {sorted(missing)}")
        self.settings = settings
        self.db = db
        self.on_status = on_status
        # files it may not read, until they change
        self.waiting = waiting if waiting is not None else WaitingFiles()
        self._progress: Progress | None = None  # the current ``process`` call's
        self._backed_up: set[tuple[str, str]] = set()  # (path, SHA-256) backed up before

    def process(
        self,
        path: Path,
        *,
        dry_run: bool = False,
        force: bool = False,
        progress: Progress | None = None,
    ) -> FileOutcome:
        """Run one file through every stage; ``force`` (retry) runs a rejected file again."""
        started = time.perf_counter()
        where = locate(self.settings, path)
        if isinstance(where, Ignored):
            return FileOutcome(path=str(path), outcome="ignored", reason=where.reason)
        self._progress = progress
        try:
            outcome = self._stages(where, dry_run=dry_run, force=force)
        except OperationalError as exc:  # the database went away outside a retried unit
            raise TransientError(f"database unavailable: {exc.orig}") from exc
        outcome.ms = round((time.perf_counter() - started) * 1000, 2)
        # read, or gone: no longer waiting (its agent's status changes)
        cleared = outcome.outcome != "waiting" and self.waiting.clear(where.path)
        if not outcome.repeat:
            self._log(outcome)
        shown = outcome.outcome in SHOWN and not outcome.repeat
        if (shown or cleared) and self.on_status:
            # the orchestrator's status carries the whole-database totals: always current
            self.on_status(outcome.result.concerns | {where.agent, self.settings.orchestrator})
        return outcome

    def _stages(self, where: Location, *, dry_run: bool, force: bool) -> FileOutcome:
        """A located file through read -> dedupe -> parse -> import (each records its end)."""
        read = self._read(where, dry_run=dry_run)
        if isinstance(read, FileOutcome):
            return read
        if isinstance(read, Refused):
            return self._reject(read.delivery, None, read.rejection, dry_run=dry_run)
        self._crash_point("after_read")
        seen = self._dedupe(read.delivery, dry_run=dry_run, force=force)
        if seen is not None:
            return seen
        parsed = self._parse(read, dry_run=dry_run)
        del read  # the parsed model is all the import needs: let the bytes go
        if isinstance(parsed, FileOutcome):
            return parsed
        return self._import(parsed, dry_run=dry_run, force=force)

    # -- read --------------------------------------------------------------------------------
    def _read(self, where: Location, *, dry_run: bool) -> ReadFile | Refused | FileOutcome:
        """The file's content, read once (a large one: hashed and archived in one pass)."""
        stat: os.stat_result | None = None
        try:
            refusal = escapes_root(self.settings, where.path)
            if refusal is not None:
                return _refused_link(where, refusal)
            stat = where.path.stat()
            if not where.path.is_file():
                return _ended(where, "ignored", "not a regular file")
            if stat.st_size > self.settings.max_file_bytes:
                return _oversize(where, stat, self.settings.max_file_bytes)
            still = self.waiting.unchanged(where.path, signature(stat))
            if still is not None:  # nothing that could let us read it changed: not tried
                return _ended(where, "waiting", still, repeat=True)
            return self._read_content(where, stat, dry_run=dry_run)
        except FileNotFoundError:
            return _ended(where, "vanished", "gone before it could be read")
        except PermissionError as exc:
            if exc.filename is None or os.fspath(exc.filename) != os.fspath(where.path):
                raise  # not the delivery (the archive folder, say): inboxd's own fault
            return self._unreadable(where, stat)

    def _unreadable(self, where: Location, stat: os.stat_result | None) -> FileOutcome:
        """A delivery the daemon may not read waits, with its reason, until it changes.

        Not the file's fault: nothing goes into the ledger (a rescan tries it again), it is
        logged and shown once, and tried again only once its mode, owner or content change.
        """
        reason = unreadable_reason(where)
        news = self.waiting.note(where, reason, signature(stat) if stat is not None else None)
        return _ended(where, "waiting", reason, repeat=not news)

    def _read_content(self, where: Location, stat: os.stat_result, *, dry_run: bool) -> ReadFile:
        ctx = FileContext(
            agent=where.agent,
            box=where.box,
            rel_path=where.rel_path,
            rag_distance_threshold=self.settings.rag_distance_threshold,
            refiner=self.settings.refiner,
        )
        handler = handlers.route(ctx)
        streamer = self._streamer(where, handler, stat.st_size)
        if streamer is None:
            data = read_whole(where.path)
            delivery = Delivery(where, _sha256(data), len(data), stat.st_mtime_ns, stat.st_ctime_ns)
            return ReadFile(delivery, ctx, handler, data)
        # large: hashed (and archived) in chunks, never whole
        if dry_run:
            delivery = Delivery(
                where, hash_file(where.path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns
            )
        else:
            with _disk_full_waits():
                digest, archived = archive_stream(
                    self.settings.archive_dir, where.path, where.path.suffix
                )
            delivery = Delivery(
                where, digest, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, archived=archived
            )
        return ReadFile(delivery, ctx, handler, streamer)

    def _streamer(
        self, where: Location, handler: Handler | Rejected, size: int
    ) -> StreamParser | None:
        """The handler's streaming reader, when this file is large enough to need it."""
        if isinstance(handler, Rejected) or handler.stream is None:
            return None
        if size < self.settings.stream_min_bytes or where.agent not in self.settings.agents:
            return None
        return handler.stream

    # -- dedupe against the ledger -----------------------------------------------------------
    def _dedupe(self, delivery: Delivery, *, dry_run: bool, force: bool) -> FileOutcome | None:
        """The end of a file whose content was handled already; None when it is new.

        ``force`` (retry) lets a rejected or failed file through again, nothing else.
        """
        with self.db.transaction() as db_session:
            known = ledger.find(db_session, delivery.rel_root, delivery.digest)
            if known is None or (force and known.outcome in ledger.RETRYABLE):
                return None
            if not dry_run:
                ledger.seen_again(db_session, known.id, delivery, utcnow())
        reason = f"same content already handled ({known.outcome})"
        return _ended(delivery.where, "unchanged", reason, kind=known.kind)

    # -- parse -------------------------------------------------------------------------------
    def _parse(self, read: ReadFile, *, dry_run: bool) -> Parsed | FileOutcome:
        """The file's model, or the stream a large file is read through while it is imported."""
        delivery, handler, content = read.delivery, read.handler, read.content
        if delivery.agent not in self.settings.agents:
            reason = Rejected(
                f"agent folder '{delivery.agent}' is not configured "
                f"(agents: {', '.join(self.settings.agents)})"
            )
            return self._reject(delivery, None, reason, dry_run=dry_run)
        if isinstance(handler, Rejected):
            return self._reject(delivery, None, handler, dry_run=dry_run, data=read.data)
        if not isinstance(content, bytes):
            streamed = StreamedFile(content, delivery.archived or delivery.where.path, read.ctx)
            if streamed.streamable():
                return Parsed(delivery, read.ctx, handler, streamed)
            # not valid JSON (or yajl and orjson would read it apart): the whole read says why
            content = read_whole(streamed.path)
        return self._parse_whole(delivery, read.ctx, handler, content, dry_run=dry_run)

    def _parse_whole(
        self, delivery: Delivery, ctx: FileContext, handler: Handler, data: bytes, *, dry_run: bool
    ) -> Parsed | FileOutcome:
        try:
            model = handler.parse(data, ctx)
        except Exception as exc:  # a parser bug: the file is marked failed, goes on
            return self._fail(delivery, handler, exc, dry_run=dry_run)
        if isinstance(model, Rejected):
            return self._reject(delivery, handler, model, dry_run=dry_run, data=data)
        if not dry_run and delivery.archived is None:
            delivery = delivery.kept_at(self._archive(delivery, data))
        return Parsed(delivery, ctx, handler, model)

    # -- import ------------------------------------------------------------------------------
    def _import(self, parsed: Parsed, *, dry_run: bool, force: bool) -> FileOutcome:
        """Import in one transaction, again while the database is busy; else record why not."""
        if parsed.handler.backup_first and not dry_run:
            self._backup_first(parsed)
        attempt = functools.partial(self._import_once, parsed, dry_run=dry_run, force=force)
        try:
            return with_db_retry(attempt, self.settings.db_retry_seconds)
        except TransientError:
            raise
        except StreamRejected as exc:  # found part-way through a large file: all rolled back
            return self._reject(parsed.delivery, parsed.handler, exc.rejection, dry_run=dry_run)
        except Exception as exc:
            return self._fail(parsed.delivery, parsed.handler, exc, dry_run=dry_run)

    def _backup_first(self, parsed: Parsed) -> None:
        """A backup before a file of a kind that asks for one (``Handler.backup_first``).

        Once per delivery: a file that waited (a busy database) and comes back keeps the
        backup its first attempt took, rather than a new one every retry pruning the older.
        """
        delivery, settings = parsed.delivery, self.settings
        if (delivery.rel_root, delivery.digest) in self._backed_up:
            return
        taken = automatic_backup(settings.url, settings.backup_dir, utcnow(), settings.backup_keep)
        self._backed_up.add((delivery.rel_root, delivery.digest))
        log.info(
            "backup.before_import",
            agent=delivery.agent,
            path=delivery.rel_root,
            kind=parsed.handler.name,
            **taken.fields(settings.root_path),
        )

    def _import_once(self, parsed: Parsed, *, dry_run: bool, force: bool) -> FileOutcome:
        """One attempt: claim the ledger row, run the importer, settle the row, commit."""
        delivery, kind = parsed.delivery, parsed.handler.name
        with self.db.transaction() as db_session:
            if force:
                ledger.forget_rejection(db_session, delivery.rel_root, delivery.digest)
            try:
                record_id = ledger.claim(
                    db_session, ledger.pending_row(delivery, kind, self.settings.root_path)
                )
            except IntegrityError:
                db_session.rollback()
                reason = "already claimed by another daemon"
                return _ended(delivery.where, "unchanged", reason, kind=kind)
            result = self._run_importer(db_session, parsed, record_id, dry_run=dry_run)
            self._crash_point("in_transaction")
            ledger.settle(db_session, record_id, result)
            if dry_run:
                db_session.rollback()
        if not dry_run:
            self._crash_point("after_commit")
            _after_commit(result, delivery)
        outcome = _ended(delivery.where, "dry-run" if dry_run else "imported", None, kind=kind)
        outcome.result = result
        return outcome

    def _run_importer(
        self, db_session: Session, parsed: Parsed, record_id: int, *, dry_run: bool
    ) -> ImportResult:
        ictx = ImportContext(
            db_session=db_session,
            settings=self.settings,
            file=parsed.ctx,
            file_id=record_id,
            now=utcnow(),
            progress=self._progress,
            dry_run=dry_run,
        )
        # a streamed file is opened afresh for every attempt (a retry reads it again)
        payload = parsed.payload
        model = payload.open() if isinstance(payload, StreamedFile) else payload
        try:
            result = IMPORTERS[parsed.handler.importer](ictx, model)
            db_session.flush()
        except IntegrityError as exc:
            if is_question_key_conflict(exc):  # another daemon stored it first
                raise KeyConflict(f"question stored concurrently: {exc.orig}") from exc
            raise
        finally:
            if isinstance(model, QAStream):
                model.source.close()
        return result

    # -- record what was not imported --------------------------------------------------------
    def _reject(
        self,
        delivery: Delivery,
        handler: Handler | None,
        rejection: Rejected,
        *,
        dry_run: bool,
        data: bytes | None = None,
    ) -> FileOutcome:
        """A file that cannot be used as it is; ``data``, when given, is archived first."""
        kind = handler.name if handler else None
        outcome = _ended(delivery.where, "rejected", rejection.describe(delivery.rel_root), kind)
        outcome.result.concerns.add(delivery.agent)
        if dry_run:
            return outcome
        if data is not None:
            delivery = delivery.kept_at(self._archive(delivery, data))
        self._record(delivery, outcome)
        return outcome

    def _fail(
        self, delivery: Delivery, handler: Handler, exc: Exception, *, dry_run: bool
    ) -> FileOutcome:
        """An internal error (a bug): logged with its traceback, recorded for ``retry``."""
        reason = (
            f"{delivery.rel_root}: internal error while handling this {handler.name} file "
            f"({type(exc).__name__}: {exc}); the file is kept, `inboxd retry` runs it again"
        )
        outcome = _ended(delivery.where, "failed", reason, kind=handler.name)
        outcome.result.concerns.add(delivery.agent)
        log.error(
            "file.internal_error",
            path=delivery.rel_root,
            kind=handler.name,
            exc_info=(type(exc), exc, exc.__traceback__),
            traceback_summary=traceback.format_exception_only(exc)[-1].strip(),
        )
        if not dry_run:
            # a failed row names no copy: ``retry`` reads the delivery itself
            self._record(delivery.kept_at(None), outcome)
        return outcome

    def _record(self, delivery: Delivery, outcome: FileOutcome) -> None:
        """The ledger row of a file not imported (unless another daemon recorded it first)."""

        def attempt() -> None:
            with self.db.transaction() as db_session:
                ledger.record_unimported(
                    db_session,
                    delivery,
                    self.settings.root_path,
                    kind=outcome.kind,
                    outcome=outcome.outcome,
                    reason=outcome.reason,
                )

        with contextlib.suppress(IntegrityError):  # another daemon recorded it first
            with_db_retry(attempt, self.settings.db_retry_seconds)

    def _archive(self, delivery: Delivery, data: bytes) -> Path:
        with _disk_full_waits():
            return archive_copy(
                self.settings.archive_dir, delivery.digest, data, delivery.where.path.suffix
            )

    def _crash_point(self, name: str) -> None:
        """Test-only: die like ``kill -9`` here when ``crash_at`` names this point."""
        if self.settings.crash_at == name:
            os.kill(os.getpid(), signal.SIGKILL)

    def _log(self, outcome: FileOutcome) -> None:
        if outcome.outcome == "ignored":
            return
        fields = {
            "agent": outcome.agent,
            "path": outcome.path,
            "kind": outcome.kind,
            "outcome": outcome.outcome,
            "pairs": outcome.result.stored,
            "duplicates": outcome.result.duplicate,
            "skipped": outcome.result.skipped,
            "ms": outcome.ms,
        }
        if outcome.reason:
            fields["reason"] = outcome.reason
        if outcome.outcome in ("rejected", "failed", "waiting"):
            log.error(f"file.{outcome.outcome}", **fields)
        else:
            log.info(f"file.{outcome.outcome.replace('-', '_')}", **fields)


def _ended(
    where: Location,
    outcome: str,
    reason: str | None,
    kind: str | None = None,
    *,
    repeat: bool = False,
) -> FileOutcome:
    return FileOutcome(
        path=where.rel_root,
        outcome=outcome,
        agent=where.agent,
        kind=kind,
        reason=reason,
        repeat=repeat,
    )


def _after_commit(result: ImportResult, delivery: Delivery) -> None:
    """The importer's work for after its commit: a failure there is logged, and the file
    stays imported (its rows are committed)."""
    for action in result.after_commit:
        try:
            action()
        except Exception as exc:
            log.error(
                "file.after_commit_failed",
                agent=delivery.agent,
                path=delivery.rel_root,
                reason=str(exc) or type(exc).__name__,
            )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _refused_link(where: Location, refusal: str) -> Refused:
    """A link out of the tree: never followed, recorded by the link's own size and time."""
    link = where.path.lstat()  # recorded so a rescan skips it like any handled file
    digest = _sha256(f"refused:{where.rel_root}:{refusal}".encode())
    return Refused(
        Delivery(where, digest, link.st_size, link.st_mtime_ns, link.st_ctime_ns), Rejected(refusal)
    )


def _oversize(where: Location, stat: os.stat_result, cap: int) -> Refused:
    """A file over the size cap: never read, known by its size and time."""
    digest = _sha256(f"oversize:{where.rel_root}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    rejection = Rejected(
        f"{stat.st_size} bytes is over the size cap of {cap} bytes (max_file_bytes); not read"
    )
    return Refused(
        Delivery(where, digest, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns), rejection
    )


@contextlib.contextmanager
def _disk_full_waits() -> Iterator[None]:
    """A full disk while archiving is waited out like a busy database, never a rejection."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise TransientError(f"disk full while archiving: {exc}") from exc
        raise
