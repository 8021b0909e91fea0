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
from pathlib import Path

from daemon.fsutil import write_atomic

CHUNK = 1024 * 1024


def archive_copy(archive_dir: Path, sha256: str, data: bytes, suffix: str) -> Path:
    """Store data under its hash (once) and return the archive path."""
    target = archive_dir / sha256[:2] / f"{sha256}{suffix.lower()[:16]}"
    if not target.exists():
        write_atomic(target, data, durable=False)
    return target


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
        target = archive_dir / sha256[:2] / f"{sha256}{suffix.lower()[:16]}"
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
