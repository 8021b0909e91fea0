"""The one path every file takes: locate, read, ledger, route, parse, import, status.

The live watcher, ``scan``, ``process`` and ``retry`` all call ``Pipeline.process``; there
is no second import path. One file is one database transaction: the ledger row and every
row the importer writes commit together or not at all.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

import handlers
from daemon.config import Settings
from daemon.errors import TransientError
from daemon.ingest import ledger
from daemon.ingest.archive import archive_copy, archive_stream, hash_file
from daemon.ingest.importers import IMPORTERS, ImportContext, ImportResult
from daemon.ingest.paths import Ignored, Location, escapes_root, locate
from daemon.logging import get_logger
from daemon.store.engine import Database
from daemon.store.locks import KeyConflict, is_question_key_conflict
from daemon.store.models import utcnow
from handlers.base import FileContext, Handler, Rejected, StreamParser
from handlers.streaming import QAStream, StreamRejected

log = get_logger("inboxd.pipeline")
T = TypeVar("T")

StatusHook = Callable[[set[str]], None]


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


OUTCOMES = ("imported", "rejected", "failed", "unchanged", "ignored", "vanished", "dry-run")


class Pipeline:
    """Turns one path into at most one ledger row and its imported data."""

    def __init__(
        self, settings: Settings, db: Database, on_status: StatusHook | None = None
    ) -> None:
        handlers.check_registry()
        missing = {h.importer for h in handlers.HANDLERS} - set(IMPORTERS)
        if missing:
            raise RuntimeError(f"handlers name importers that do not exist: {sorted(missing)}")
        self.settings = settings
        self.db = db
        self.on_status = on_status
        self._progress: Callable[[int, int], None] | None = None

    # -- the path --------------------------------------------------------------------------
    def process(
        self,
        path: Path,
        *,
        dry_run: bool = False,
        force: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> FileOutcome:
        started = time.perf_counter()
        where = locate(self.settings, path)
        if isinstance(where, Ignored):
            return FileOutcome(path=str(path), outcome="ignored", reason=where.reason)
        self._progress = progress
        try:
            outcome = self._process_located(where, dry_run=dry_run, force=force)
        except OperationalError as exc:  # the database went away outside a retried unit
            raise TransientError(f"database unavailable: {exc.orig}") from exc
        outcome.ms = round((time.perf_counter() - started) * 1000, 2)
        self._log(outcome)
        if outcome.outcome in ("imported", "rejected", "failed") and self.on_status:
            # the orchestrator's status carries the whole-database totals: always current
            self.on_status(outcome.result.concerns | {where.agent, self.settings.orchestrator})
        return outcome

    def _process_located(self, where: Location, *, dry_run: bool, force: bool) -> FileOutcome:
        base = FileOutcome(path=where.rel_root, outcome="ignored", agent=where.agent)
        refusal = escapes_root(self.settings, where.path)
        if refusal is not None:
            digest = hashlib.sha256(f"refused:{where.rel_root}:{refusal}".encode()).hexdigest()
            link = where.path.lstat()  # recorded so a rescan skips it like any handled file
            return self._reject(
                where,
                base,
                digest,
                link.st_size,
                link.st_mtime_ns,
                None,
                Rejected(refusal),
                dry_run,
            )
        try:
            stat = where.path.stat()
            if not where.path.is_file():
                base.reason = "not a regular file"
                return base
            if stat.st_size > self.settings.max_file_bytes:
                digest = hashlib.sha256(
                    f"oversize:{where.rel_root}:{stat.st_size}:{stat.st_mtime_ns}".encode()
                ).hexdigest()
                reason = Rejected(
                    f"{stat.st_size} bytes is over the size cap of "
                    f"{self.settings.max_file_bytes} bytes (max_file_bytes); not read"
                )
                return self._reject(
                    where, base, digest, stat.st_size, stat.st_mtime_ns, None, reason, dry_run
                )
            ctx = FileContext(
                agent=where.agent,
                box=where.box,
                rel_path=where.rel_path,
                rag_distance_threshold=self.settings.rag_distance_threshold,
            )
            handler = handlers.route(ctx)
            streamer = self._streamer(where, handler, stat.st_size)
            archived: Path | None = None
            data: bytes | None = None
            if streamer is not None:  # large: hashed (and archived) in chunks, never whole
                if dry_run:
                    digest = hash_file(where.path)
                else:
                    digest, archived = self._archive_stream(where)
            else:
                data = _read(where.path)
                digest = hashlib.sha256(data).hexdigest()
        except FileNotFoundError:
            base.outcome, base.reason = "vanished", "gone before it could be read"
            return base
        size = stat.st_size if data is None else len(data)
        self._crash_point("after_read")
        with self.db.transaction() as session:
            known = ledger.find(session, where.rel_root, digest)
            # retry (force) reprocesses only what was rejected or failed
            if known is not None and not (force and known.outcome in ("rejected", "failed")):
                if not dry_run:
                    ledger.seen_again(session, known.id, utcnow())
                base.outcome, base.kind = "unchanged", known.kind
                base.reason = f"same content already handled ({known.outcome})"
                return base
        if where.agent not in self.settings.agents:
            reason = Rejected(
                f"agent folder '{where.agent}' is not configured "
                f"(agents: {', '.join(self.settings.agents)})"
            )
            return self._reject(where, base, digest, size, stat.st_mtime_ns, None, reason, dry_run)
        if isinstance(handler, Rejected):
            return self._reject(
                where, base, digest, size, stat.st_mtime_ns, None, handler, dry_run, data
            )
        parsed: object
        if streamer is not None:
            source_path = archived or where.path
            parsed = functools.partial(_open_stream, streamer, source_path, ctx)
            probe = parsed()
            if probe is None:  # not streamable after all (a document, UTF-16): read it whole
                streamer, data = None, _read(source_path)
            else:
                probe.source.close()
        if streamer is None:
            assert data is not None
            try:
                parsed = handler.parse(data, ctx)
            except Exception as exc:  # a parser bug: the file is marked failed, goes on
                return self._fail(
                    where, base, digest, size, stat.st_mtime_ns, handler, exc, dry_run
                )
            if isinstance(parsed, Rejected):
                return self._reject(
                    where, base, digest, size, stat.st_mtime_ns, handler, parsed, dry_run, data
                )
            archived = None if dry_run else archived or self._archive(digest, data, where)
            data = None  # the parsed model is all the import needs: let the bytes go
        try:
            return self._import(
                where,
                base,
                ctx,
                handler,
                parsed,
                digest,
                size,
                stat.st_mtime_ns,
                archived,
                dry_run=dry_run,
                force=force,
            )
        except TransientError:
            raise
        except StreamRejected as exc:  # found part-way through a large file: all rolled back
            return self._reject(
                where,
                base,
                digest,
                size,
                stat.st_mtime_ns,
                handler,
                exc.rejection,
                dry_run,
                archived=archived,
            )
        except Exception as exc:
            return self._fail(where, base, digest, size, stat.st_mtime_ns, handler, exc, dry_run)

    def _streamer(
        self, where: Location, handler: Handler | Rejected, size: int
    ) -> StreamParser | None:
        """The handler's streaming reader, when this file is large enough to need it."""
        if isinstance(handler, Rejected) or handler.stream is None:
            return None
        if size < self.settings.stream_min_bytes or where.agent not in self.settings.agents:
            return None
        return handler.stream

    def _archive_stream(self, where: Location) -> tuple[str, Path]:
        try:
            return archive_stream(self.settings.archive_dir, where.path, where.path.suffix)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise TransientError(f"disk full while archiving: {exc}") from exc
            raise

    # -- writing the outcome ---------------------------------------------------------------
    def _import(
        self,
        where: Location,
        base: FileOutcome,
        ctx: FileContext,
        handler: Handler,
        parsed: object,
        digest: str,
        size: int,
        mtime_ns: int,
        archived: Path | None,
        *,
        dry_run: bool,
        force: bool,
    ) -> FileOutcome:
        base.kind = handler.name

        def attempt() -> FileOutcome:
            with self.db.transaction() as session:
                if force:
                    previous = ledger.find(session, where.rel_root, digest)
                    if previous is not None:
                        ledger.forget_rejection(session, previous.id)
                try:
                    record_id = ledger.claim(
                        session,
                        self._record_fields(where, handler.name, digest, size, mtime_ns, archived),
                    )
                except IntegrityError:
                    session.rollback()
                    base.outcome = "unchanged"
                    base.reason = "already claimed by another daemon"
                    return base
                ictx = ImportContext(
                    session=session,
                    settings=self.settings,
                    file=ctx,
                    file_id=record_id,
                    now=utcnow(),
                    progress=self._progress,
                    dry_run=dry_run,
                )
                # a streamed file is opened afresh for every attempt (a retry reads it again)
                payload = parsed() if callable(parsed) else parsed
                try:
                    result = IMPORTERS[handler.importer](ictx, payload)
                    session.flush()
                except IntegrityError as exc:
                    if is_question_key_conflict(exc):  # another daemon stored it first
                        raise KeyConflict(f"question stored concurrently: {exc.orig}") from exc
                    raise
                finally:
                    if isinstance(payload, QAStream):
                        payload.source.close()
                self._crash_point("in_transaction")
                ledger.settle(
                    session,
                    record_id,
                    {
                        "outcome": "imported",
                        "pairs_delivered": result.delivered,
                        "pairs_stored": result.stored,
                        "pairs_duplicate": result.duplicate,
                        "pairs_skipped": result.skipped,
                        "pairs_filtered": result.filtered,
                        "details": result.details,
                    },
                )
                base.result = result
                if dry_run:
                    session.rollback()
                    base.outcome = "dry-run"
                else:
                    base.outcome = "imported"
            if not dry_run:
                self._crash_point("after_commit")
            return base

        return _with_db_retry(attempt, self.settings.db_retry_seconds)

    def _archive(self, digest: str, data: bytes, where: Location) -> Path:
        try:
            return archive_copy(self.settings.archive_dir, digest, data, where.path.suffix)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise TransientError(f"disk full while archiving: {exc}") from exc
            raise

    def _record_fields(
        self,
        where: Location,
        kind: str | None,
        digest: str,
        size: int,
        mtime_ns: int | None,
        archived: Path | None,
    ) -> dict[str, Any]:
        """A new ledger row, pending until its outcome is settled."""
        return dict(
            agent=where.agent,
            box=where.box,
            rel_path=where.rel_root,
            sha256=digest,
            size=size,
            mtime_ns=mtime_ns,
            kind=kind,
            outcome="pending",
            pairs_delivered=0,
            pairs_stored=0,
            pairs_duplicate=0,
            pairs_skipped=0,
            pairs_filtered=0,
            archive_path=str(archived.relative_to(self.settings.root_path)) if archived else None,
            processed_at=utcnow(),
            seen_count=1,
        )

    def _reject(
        self,
        where: Location,
        base: FileOutcome,
        digest: str,
        size: int,
        mtime_ns: int | None,
        handler: Handler | None,
        rejection: Rejected,
        dry_run: bool,
        data: bytes | None = None,
        *,
        archived: Path | None = None,
    ) -> FileOutcome:
        base.outcome = "rejected"
        base.kind = handler.name if handler else None
        base.reason = rejection.describe(where.rel_root)
        base.result.concerns.add(where.agent)
        if dry_run:
            return base
        if data is not None:
            archived = self._archive(digest, data, where)
        self._record_failure(where, base, digest, size, mtime_ns, archived)
        return base

    def _fail(
        self,
        where: Location,
        base: FileOutcome,
        digest: str,
        size: int,
        mtime_ns: int | None,
        handler: Handler,
        exc: BaseException,
        dry_run: bool,
    ) -> FileOutcome:
        base.outcome = "failed"
        base.kind = handler.name
        base.reason = (
            f"{where.rel_root}: internal error while handling this {handler.name} file "
            f"({type(exc).__name__}: {exc}); the file is kept, `inboxd retry` runs it again"
        )
        base.result.concerns.add(where.agent)
        log.error(
            "file.internal_error",
            path=where.rel_root,
            kind=handler.name,
            exc_info=(type(exc), exc, exc.__traceback__),
            traceback_summary=traceback.format_exception_only(exc)[-1].strip(),
        )
        if not dry_run:
            self._record_failure(where, base, digest, size, mtime_ns, None)
        return base

    def _record_failure(
        self,
        where: Location,
        base: FileOutcome,
        digest: str,
        size: int,
        mtime_ns: int | None,
        archived: Path | None,
    ) -> None:
        def attempt() -> None:
            with self.db.transaction() as session:
                if ledger.find(session, where.rel_root, digest) is not None:
                    return
                fields = self._record_fields(where, base.kind, digest, size, mtime_ns, archived)
                ledger.claim(session, fields | {"outcome": base.outcome, "reason": base.reason})

        with contextlib.suppress(IntegrityError):  # another daemon recorded it first
            _with_db_retry(attempt, self.settings.db_retry_seconds)

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
        if outcome.outcome in ("rejected", "failed"):
            log.error(f"file.{outcome.outcome}", **fields)
        else:
            log.info(f"file.{outcome.outcome.replace('-', '_')}", **fields)


def _open_stream(streamer: StreamParser, path: Path, ctx: FileContext) -> QAStream | None:
    """The file opened for its streaming reader; the stream owns (and closes) the file."""
    source = open(path, "rb")  # noqa: SIM115 - closed by the pipeline after the import
    try:
        stream = streamer(source, ctx)
    except BaseException:
        source.close()
        raise
    if stream is None:
        source.close()
    return stream


# Retry policies built once: building one costs more than a small file's read (~60 µs).
_READ_RETRYING = Retrying(
    retry=retry_if_exception_type((PermissionError, BlockingIOError)),
    stop=stop_after_delay(5),
    wait=wait_exponential(multiplier=0.05, max=1),
    reraise=True,
)


def _read(path: Path) -> bytes:
    """Read a whole file; a writer's transient lock is retried, a vanished file is not."""
    return _READ_RETRYING(path.read_bytes)


def _key_conflicts_exhausted(state: RetryCallState) -> bool:
    failed = state.outcome.exception() if state.outcome is not None else None
    return isinstance(failed, KeyConflict) and state.attempt_number >= 5


@functools.cache
def _db_retrying(seconds: float) -> Retrying:
    """The database retry policy for this many seconds (built once per setting)."""
    return Retrying(
        retry=retry_if_exception_type((OperationalError, KeyConflict)),
        stop=stop_after_delay(seconds) | _key_conflicts_exhausted,
        wait=wait_exponential(multiplier=0.05, max=2),
        reraise=True,
    )


def _with_db_retry(func: Callable[[], T], seconds: float) -> T:
    """Retry a unit of work while the database is busy or away; then it is a TransientError.

    A question stored by another daemon meanwhile (``KeyConflict``) is retried too, at most
    five times: each run reads what was committed before it, so it ends as soon as the other
    daemons' rows are seen as duplicates (after that the file waits, like a busy database).
    Other integrity errors are not retried.
    """
    try:
        return _db_retrying(seconds)(func)
    except OperationalError as exc:
        raise TransientError(f"database unavailable: {exc.orig}") from exc
