"""Content-addressed copies of every delivery read: raw deliveries are irreplaceable.

``var/archive/ab/abcdef....<ext>``; one copy per content, never pruned. Copies are written
atomically but not fsynced one by one (a large share of a burst's time): the delivery
itself is still in the outbox when the copy is made, and the kernel writes the copy out
within seconds; the SQLite commit that records it (WAL, synchronous=NORMAL) promises no more.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from daemon.fsutil import write_atomic

CHUNK = 1024 * 1024


def archive_target(archive_dir: Path, sha256: str, suffix: str) -> Path:
    """Where the copy of this content lives: a name made of its hash alone."""
    return archive_dir / sha256[:2] / f"{sha256}{suffix.lower()[:16]}"


def _write_copy(target: Path, data: bytes) -> None:
    """Store data under its hash, once (the same content twice is written once)."""
    if not target.exists():
        write_atomic(target, data, durable=False)


class ArchiveCopies:
    """Copies of whole-read deliveries, written by a background thread meanwhile.

    Why: making a file costs 0.3 to 1 ms on an ext4 virtual disk, a third of a small file's
    whole import under a burst, and the system calls release the GIL: a second thread
    writes the copies while this one parses and imports. The rule that keeps this safe:
    whoever records a copy's path in the database calls ``written`` before committing, so a
    committed ledger row never names a copy that is not there.
    """

    def __init__(self, archive_dir: Path) -> None:
        self._archive_dir = archive_dir
        self._writer: ThreadPoolExecutor | None = None  # started at the first copy
        self._pending: dict[Path, Future[None]] = {}

    def copy(self, sha256: str, data: bytes, suffix: str) -> Path:
        """The copy's path at once; the copy itself is written in the background."""
        target = archive_target(self._archive_dir, sha256, suffix)
        if target not in self._pending:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="inboxd-archive")
            self._pending[target] = self._writer.submit(_write_copy, target, data)
        return target

    def written(self, target: Path) -> None:
        """Returns once that copy is on disk; raises the error that stopped it (each time:
        two deliveries with the same content share one copy)."""
        future = self._pending.get(target)
        if future is not None:
            future.result()

    def forget(self) -> None:
        """The copies asked for so far are no longer waited for (their files are done)."""
        self._pending.clear()


def archive_stream(archive_dir: Path, source: Path, suffix: str) -> tuple[str, Path]:
    """Copy a large file into the archive while hashing it, in one pass of 1 MB chunks.

    The digest is of exactly the bytes archived, and what is parsed afterwards is that copy,
    so a writer touching the delivery meanwhile cannot make the two disagree.
    """
    archive_dir.mkdir(parents=True, exist_ok=True)
    tmp = archive_dir / f".incoming.{os.getpid()}.{threading.get_ident()}.tmp"
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src, open(tmp, "wb") as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        sha256 = digest.hexdigest()
        target = archive_target(archive_dir, sha256, suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)  # same content under the same name: replacing is harmless
    finally:
        tmp.unlink(missing_ok=True)
    return sha256, target


def hash_file(source: Path) -> str:
    """SHA-256 of a file read in chunks (a dry run of a large file archives nothing)."""
    digest = hashlib.sha256()
    with open(source, "rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
