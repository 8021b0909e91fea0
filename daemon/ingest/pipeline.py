"""The one path every file takes: locate -> read -> dedupe -> parse -> import -> record.

The live watcher, ``scan``, ``process`` and ``retry`` all call ``Pipeline.process``; there
is no second import path; under a burst the daemon calls ``Pipeline.process_group`` with the
files already due, which takes each through the same stages. One file is one unit of work:
the ledger row and every row the importer writes commit together or not at all (in its own
transaction, or in a group's, inside its own savepoint).

Each stage below is one method, in the order a file meets them. A stage hands the next one
its value (a ``Delivery`` inside a ``ReadFile``, then a ``Parsed``) or ends the file with
its ``FileOutcome``; a file that is not imported is recorded in the ledger all the same, so
a rescan skips it like any handled file.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

import handlers
from daemon.config import Settings
from daemon.errors import TransientError
from daemon.ingest import ledger, stream_worker
from daemon.ingest.delivery import Delivery, Parsed, ReadFile, Refused, StreamedFile
from daemon.ingest.importers import IMPORTERS, ImportContext, ImportResult
from daemon.ingest.outcome import (
    SHOWN,
    FileOutcome,
    ended,
    log_group,
    log_outcome,
    run_after_commit,
)
from daemon.ingest.paths import Ignored, Location, locate
from daemon.ingest.preparing import StreamRequest
from daemon.ingest.reading import DeliveryReader
from daemon.ingest.retrying import read_whole, with_db_retry
from daemon.ingest.stream_worker import RemoteStream
from daemon.ingest.waiting import WaitingFiles
from daemon.logging import get_logger
from daemon.neardup.detector import Detector
from daemon.store.backup import automatic_backup
from daemon.store.engine import Database, FileSavepoint, begin_group
from daemon.store.locks import BusyElsewhere, KeyConflict, is_question_key_conflict, taken_elsewhere
from daemon.store.models import utcnow
from handlers.base import FileContext, Handler, Rejected, StreamParser
from handlers.streaming import QAStream, StreamRejected

log = get_logger("inboxd.pipeline")

StatusHook = Callable[[set[str]], None]
Progress = Callable[[int, int], None]  # (done, total) for a person's terminal


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
        self.reading = DeliveryReader(settings, self.waiting)
        # a large file's second process (shared by the pipelines of this process)
        self.stream_worker = stream_worker.shared() if settings.stream_worker else None

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
        finally:
            self._forget()
        concerns = self._finish(where, outcome, started)
        if concerns and self.on_status:
            self.on_status(concerns)
        return outcome

    def process_group(self, paths: Sequence[Path]) -> list[FileOutcome | TransientError]:
        """Several files taken together under a burst (group commit), one outcome each.

        Each file is read, deduplicated and parsed alone, as by ``process``; the small ones
        parsed into a model are then imported in ONE transaction, each inside its own
        savepoint: a file that fails is rolled back alone and recorded as failed, the others
        commit together (one commit instead of one per file, the most a burst's file cost).
        Large (streamed) files and kinds that take a backup first are imported alone. A file
        the database could not take now ends as the ``TransientError`` to wait on.
        """
        try:
            return self._process_group(paths)
        finally:
            self._forget()

    def _forget(self) -> None:
        """After a call: no archive copy awaited, no stream left open in the second process."""
        self.reading.copies.forget()
        if self.stream_worker is not None:
            self.stream_worker.reclaim()

    def _process_group(self, paths: Sequence[Path]) -> list[FileOutcome | TransientError]:
        started = time.perf_counter()
        self._progress = None
        ended: dict[int, FileOutcome | TransientError] = {}
        wheres: dict[int, Location] = {}
        for index, path in enumerate(paths):
            where = locate(self.settings, path)
            if isinstance(where, Ignored):
                ended[index] = FileOutcome(path=str(path), outcome="ignored", reason=where.reason)
            else:
                wheres[index] = where
        together: list[tuple[int, Parsed]] = []
        fronts: list[Parsed | FileOutcome | TransientError]
        try:
            fronts = list(self._fronts(list(wheres.values()), dry_run=False, force=False))
        except (TransientError, OperationalError) as exc:  # the ledger could not be asked
            fronts = [_transient(exc)] * len(wheres)
        for index, front in zip(wheres, fronts, strict=True):
            if not isinstance(front, Parsed):
                ended[index] = front
            elif _groupable(front):
                together.append((index, front))
            else:
                try:
                    ended[index] = self._import(front, dry_run=False, force=False)
                except TransientError as exc:
                    ended[index] = exc
        if together:
            ended.update(self._import_group(together))
            log_group([ended[index] for index, _ in together], started)
        concerns: set[str] = set()
        for index, where in wheres.items():
            outcome = ended[index]
            if isinstance(outcome, FileOutcome):
                concerns |= self._finish(where, outcome, started)
        if concerns and self.on_status:
            self.on_status(concerns)
        return [ended[index] for index in range(len(paths))]

    def _finish(self, where: Location, outcome: FileOutcome, started: float) -> set[str]:
        """Time, log and un-wait a file's outcome; the agents whose status it changes."""
        outcome.ms = round((time.perf_counter() - started) * 1000, 2)
        # read, or gone: no longer waiting (its agent's status changes)
        cleared = outcome.outcome != "waiting" and self.waiting.clear(where.path)
        if not outcome.repeat:
            log_outcome(outcome)
        shown = outcome.outcome in SHOWN and not outcome.repeat
        if not (shown or cleared):
            return set()
        # the orchestrator's status carries the whole-database totals: always current
        return outcome.result.concerns | {where.agent, self.settings.orchestrator}

    def _stages(self, where: Location, *, dry_run: bool, force: bool) -> FileOutcome:
        """A located file through read -> dedupe -> parse -> import (each records its end)."""
        front = self._front(where, dry_run=dry_run, force=force)
        if isinstance(front, FileOutcome):
            return front
        return self._import(front, dry_run=dry_run, force=force)

    def _front(self, where: Location, *, dry_run: bool, force: bool) -> Parsed | FileOutcome:
        """Read -> dedupe -> parse: the file's model, ready to import, or its end."""
        return self._fronts([where], dry_run=dry_run, force=force)[0]

    def _fronts(
        self, wheres: Sequence[Location], *, dry_run: bool, force: bool
    ) -> list[Parsed | FileOutcome]:
        """``_front`` for several files at once: the ledger is asked about all of them in one
        transaction (a group's files would otherwise pay one each)."""
        ends: list[Parsed | FileOutcome | None] = []
        reads: list[tuple[int, ReadFile]] = []  # (place in ends, the file read)
        for where in wheres:
            read = self.reading.read(where, dry_run=dry_run)
            if isinstance(read, Refused):
                ends.append(self._reject(read.delivery, None, read.rejection, dry_run=dry_run))
            elif isinstance(read, FileOutcome):
                ends.append(read)
            else:
                self._crash_point("after_read")
                reads.append((len(ends), read))
                ends.append(None)
        seen = self._dedupe([read.delivery for _, read in reads], dry_run=dry_run, force=force)
        for (index, read), known in zip(reads, seen, strict=True):
            ends[index] = known or self._parse(read, dry_run=dry_run)
        del reads  # the parsed models are all the import needs: let the bytes go
        return cast(list[Parsed | FileOutcome], ends)  # every None was replaced just above

    # -- dedupe against the ledger -----------------------------------------------------------
    def _dedupe(
        self, deliveries: Sequence[Delivery], *, dry_run: bool, force: bool
    ) -> list[FileOutcome | None]:
        """For each delivery, its end when this content was handled already; None when new.

        ``force`` (retry) lets a rejected or failed file through again, nothing else.
        """
        if not deliveries:
            return []
        ends: list[FileOutcome | None] = []
        with self.db.transaction() as db_session:
            found = ledger.find_many(db_session, [(d.rel_root, d.digest) for d in deliveries])
            for delivery in deliveries:
                known = found.get((delivery.rel_root, delivery.digest))
                if known is None or (force and known.outcome in ledger.RETRYABLE):
                    ends.append(None)
                    continue
                if not dry_run:
                    ledger.seen_again(db_session, known.id, delivery, utcnow())
                reason = f"same content already handled ({known.outcome})"
                ends.append(ended(delivery.where, "unchanged", reason, kind=known.kind))
        return ends

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
            streamed = self._streamed(read, handler, content)
            if streamed.streamable():
                return Parsed(delivery, read.ctx, handler, streamed)
            # not valid JSON (or yajl and orjson would read it apart): the whole read says why
            content = read_whole(streamed.path)
        return self._parse_whole(delivery, read.ctx, handler, content, dry_run=dry_run)

    def _streamed(self, read: ReadFile, handler: Handler, streamer: StreamParser) -> StreamedFile:
        """A large file, to be read as it is imported (by the second process, if it may)."""
        path, ctx = read.delivery.archived or read.delivery.where.path, read.ctx
        if self.stream_worker is None:
            return StreamedFile(streamer, path, ctx)
        mapping = self.settings.file_mappings.get(ctx.name)
        policy = self.settings.near_duplicate_policy
        request = StreamRequest(
            path,
            ctx,
            handler.name,
            mapping.indicator if mapping else None,
            None if policy == "off" else Detector.from_settings(self.settings),
        )
        return StreamedFile(streamer, path, ctx, self.stream_worker, request)

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
            delivery = delivery.kept_at(self.reading.archive(delivery, data))
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
        large = isinstance(parsed.payload, StreamedFile)  # its checkpoint on a thread
        with self.db.transaction(large=large) as db_session:
            if force:
                ledger.forget_rejection(db_session, delivery.rel_root, delivery.digest)
            try:
                record_id = ledger.claim(
                    db_session, ledger.pending_row(delivery, kind, self.settings.root_path)
                )
            except IntegrityError:
                db_session.rollback()
                reason = "already claimed by another daemon"
                return ended(delivery.where, "unchanged", reason, kind=kind)
            result = self._run_importer(db_session, parsed, record_id, dry_run=dry_run)
            self._crash_point("in_transaction")
            ledger.settle(db_session, record_id, result)
            if dry_run:
                db_session.rollback()
            else:
                self.reading.copy_written(delivery)
        if not dry_run:
            self._crash_point("after_commit")
            run_after_commit(result, delivery)
        outcome = ended(delivery.where, "dry-run" if dry_run else "imported", None, kind=kind)
        outcome.result = result
        return outcome

    def _import_group(
        self, together: list[tuple[int, Parsed]]
    ) -> dict[int, FileOutcome | TransientError]:
        """The group's transaction, again while the database is busy; then every file waits."""
        attempt = functools.partial(self._import_group_once, together)
        try:
            return dict(with_db_retry(attempt, self.settings.db_retry_seconds))
        except TransientError as exc:
            return {index: exc for index, _parsed in together}

    def _import_group_once(
        self, together: list[tuple[int, Parsed]]
    ) -> dict[int, FileOutcome | BusyElsewhere]:
        """One attempt at a group: a savepoint per file, one commit for all (a file another
        daemon is importing now is left out, to be taken again in a moment)."""
        outcomes: dict[int, FileOutcome | BusyElsewhere] = {}
        with self.db.transaction() as db_session:
            begin_group(db_session)
            for index, parsed in together:
                outcomes[index] = self._import_in_savepoint(db_session, parsed)
                if len(outcomes) >= 2:
                    self._crash_point("in_group")
        self._crash_point("after_commit")
        for index, parsed in together:
            outcome = outcomes[index]
            if isinstance(outcome, FileOutcome):
                run_after_commit(outcome.result, parsed.delivery)
        return outcomes

    def _import_in_savepoint(
        self, db_session: Session, parsed: Parsed
    ) -> FileOutcome | BusyElsewhere:
        """One file of a group: claimed, imported and settled, or rolled back alone.

        A database that is busy or away, or another daemon's question (``KeyConflict``),
        is raised: the whole group runs again. Any other error is this file's own (a bug in
        its importer): it is rolled back to its savepoint and recorded as failed.
        """
        delivery, kind = parsed.delivery, parsed.handler.name
        if taken_elsewhere(db_session, f"{delivery.rel_root}\0{delivery.digest}"):
            return BusyElsewhere(f"{delivery.rel_root}: being imported by another daemon")
        savepoint = FileSavepoint(db_session)
        try:
            record_id = ledger.claim(
                db_session, ledger.pending_row(delivery, kind, self.settings.root_path)
            )
        except IntegrityError:
            savepoint.rollback()
            return ended(delivery.where, "unchanged", "already claimed by another daemon", kind)
        try:
            result = self._run_importer(db_session, parsed, record_id, dry_run=False)
            self._crash_point("in_transaction")
            ledger.settle(db_session, record_id, result)
            self.reading.copy_written(delivery)  # written meanwhile: a failed copy is this file's
        except (OperationalError, TransientError):
            raise
        except Exception as exc:
            savepoint.rollback()
            outcome = self._failure(delivery, parsed.handler, exc)
            ledger.record_unimported(
                db_session,
                delivery.kept_at(None),
                self.settings.root_path,
                kind=kind,
                outcome="failed",
                reason=outcome.reason,
            )
            return outcome
        savepoint.release()
        outcome = ended(delivery.where, "imported", None, kind=kind)
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
            elif isinstance(model, RemoteStream):
                model.close()
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
        outcome = ended(delivery.where, "rejected", rejection.describe(delivery.rel_root), kind)
        outcome.result.concerns.add(delivery.agent)
        if dry_run:
            return outcome
        if data is not None:
            delivery = delivery.kept_at(self.reading.archive(delivery, data))
        self._record(delivery, outcome)
        return outcome

    def _fail(
        self, delivery: Delivery, handler: Handler, exc: Exception, *, dry_run: bool
    ) -> FileOutcome:
        """An internal error (a bug): logged with its traceback, recorded for ``retry``."""
        outcome = self._failure(delivery, handler, exc)
        if not dry_run:
            # a failed row names no copy: ``retry`` reads the delivery itself
            self._record(delivery.kept_at(None), outcome)
        return outcome

    def _failure(self, delivery: Delivery, handler: Handler, exc: Exception) -> FileOutcome:
        """The outcome of a file a bug stopped, logged with its traceback (not recorded)."""
        reason = (
            f"{delivery.rel_root}: internal error while handling this {handler.name} file "
            f"({type(exc).__name__}: {exc}); the file is kept, `inboxd retry` runs it again"
        )
        outcome = ended(delivery.where, "failed", reason, kind=handler.name)
        outcome.result.concerns.add(delivery.agent)
        log.error(
            "file.internal_error",
            path=delivery.rel_root,
            kind=handler.name,
            exc_info=(type(exc), exc, exc.__traceback__),
            traceback_summary=traceback.format_exception_only(exc)[-1].strip(),
        )
        return outcome

    def _record(self, delivery: Delivery, outcome: FileOutcome) -> None:
        """The ledger row of a file not imported (unless another daemon recorded it first)."""

        def attempt() -> None:
            self.reading.copy_written(delivery)
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

    def _crash_point(self, name: str) -> None:
        """Test-only: die like ``kill -9`` here when ``crash_at`` names this point."""
        if self.settings.crash_at == name:
            os.kill(os.getpid(), signal.SIGKILL)


def _groupable(parsed: Parsed) -> bool:
    """Whether a file may share a group's transaction: a model in memory (a streamed file is
    imported alone, as it is read) and no backup to take before it."""
    return not isinstance(parsed.payload, StreamedFile) and not parsed.handler.backup_first


def _transient(exc: TransientError | OperationalError) -> TransientError:
    if isinstance(exc, TransientError):
        return exc
    return TransientError(f"database unavailable: {exc.orig}")
