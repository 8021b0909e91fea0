"""Durable file writes: temp -> fsync -> rename -> fsync the folder.

A reader (an agent, or the next start of inboxd) sees the old file or the new one, never a
torn one. Temporary names start with a dot so the watcher ignores them.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from pathlib import Path

RELEASE_QUEUE = 256  # descriptors waiting for the releaser; beyond, closed at once


def write_atomic(
    path: Path, data: bytes, *, durable: bool = True, release_old_later: bool = False
) -> None:
    """Replace ``path`` with ``data`` all at once; ``durable`` also survives a power loss.

    ``release_old_later``: the replaced version's storage is freed by a background thread,
    not inside the rename. On ext4 freeing a file's blocks is part of the syscall that drops
    its last link (slow on a virtual disk mounted with ``discard``); holding the old version
    open across the rename moves that cost to the ``close``, off the caller's path. For
    files rewritten often and waited for (status files).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        handle = open(tmp, "wb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:  # the folder is made only when missing: not a syscall per write
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(tmp, "wb")  # noqa: SIM115
    with handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    old = _open_current(path) if release_old_later else None
    try:
        os.replace(tmp, path)
    finally:
        if old is not None:
            _release_later(old)
    if durable:
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_current(path: Path) -> int | None:
    """A descriptor on the version about to be replaced (None: none, or not a plain file)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None


_releases: queue.Queue[int] = queue.Queue(RELEASE_QUEUE)
_releaser: threading.Thread | None = None
_releaser_lock = threading.Lock()


def _release_later(fd: int) -> None:
    """Close ``fd`` on the releaser thread (started on first use; at once if it lags)."""
    global _releaser
    with _releaser_lock:
        if _releaser is None or not _releaser.is_alive():
            _releaser = threading.Thread(
                target=_release_forever, name="inboxd-releaser", daemon=True
            )
            _releaser.start()
    try:
        _releases.put_nowait(fd)
    except queue.Full:
        os.close(fd)


def _release_forever() -> None:
    while True:
        fd = _releases.get()
        with contextlib.suppress(OSError):
            os.close(fd)  # the GIL is released while the kernel frees the old blocks
