"""The read stage: a located file's content, hashed and kept, or why it cannot be read now.

Look here when a file was refused before parsing (a link out of the tree, over the size cap),
waits (it may not be read), or its archive copy is missing. A small file is read whole and
its copy written meanwhile by a second thread (``ArchiveCopies``); a large one is hashed and
archived in one pass and parsed from the copy as a stream.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import handlers
from daemon.config import Settings
from daemon.errors import TransientError
from daemon.ingest.archive import ArchiveCopies, archive_stream, hash_file
from daemon.ingest.delivery import Delivery, ReadFile, Refused
from daemon.ingest.outcome import FileOutcome, ended
from daemon.ingest.paths import Location, escapes_root
from daemon.ingest.retrying import read_whole
from daemon.ingest.waiting import WaitingFiles, signature, unreadable_reason
from handlers.base import FileContext, Handler, Rejected, StreamParser


class DeliveryReader:
    """Reads deliveries for the pipeline, and keeps their archive copies."""

    def __init__(self, settings: Settings, waiting: WaitingFiles) -> None:
        self.settings = settings
        self.waiting = waiting  # files it may not read, until they change
        self.copies = ArchiveCopies(settings.archive_dir)  # see copy_written

    def read(self, where: Location, *, dry_run: bool) -> ReadFile | Refused | FileOutcome:
        """The file's content, read once (a large one: hashed and archived in one pass)."""
        stat: os.stat_result | None = None
        try:
            refusal = escapes_root(self.settings, where.path)
            if refusal is not None:
                return _refused_link(where, refusal)
            stat = where.path.stat()
            if not where.path.is_file():
                return ended(where, "ignored", "not a regular file")
            if stat.st_size > self.settings.max_file_bytes:
                return _oversize(where, stat, self.settings.max_file_bytes)
            still = self.waiting.unchanged(where.path, signature(stat))
            if still is not None:  # nothing that could let us read it changed: not tried
                return ended(where, "waiting", still, repeat=True)
            return self._read_content(where, stat, dry_run=dry_run)
        except FileNotFoundError:
            return ended(where, "vanished", "gone before it could be read")
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
        return ended(where, "waiting", reason, repeat=not news)

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
            delivery = Delivery(where, sha256(data), len(data), stat.st_mtime_ns, stat.st_ctime_ns)
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

    def archive(self, delivery: Delivery, data: bytes) -> Path:
        """Where the delivery's copy is kept; it is written meanwhile (``copy_written``)."""
        return self.copies.copy(delivery.digest, data, delivery.where.path.suffix)

    def copy_written(self, delivery: Delivery) -> None:
        """Before a commit that names the delivery's archive copy: the copy is on disk."""
        if delivery.archived is not None:
            with _disk_full_waits():
                self.copies.written(delivery.archived)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _refused_link(where: Location, refusal: str) -> Refused:
    """A link out of the tree: never followed, recorded by the link's own size and time."""
    link = where.path.lstat()  # recorded so a rescan skips it like any handled file
    digest = sha256(f"refused:{where.rel_root}:{refusal}".encode())
    return Refused(
        Delivery(where, digest, link.st_size, link.st_mtime_ns, link.st_ctime_ns), Rejected(refusal)
    )


def _oversize(where: Location, stat: os.stat_result, cap: int) -> Refused:
    """A file over the size cap: never read, known by its size and time."""
    digest = sha256(f"oversize:{where.rel_root}:{stat.st_size}:{stat.st_mtime_ns}".encode())
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
