"""Did the previous run stop cleanly? A marker file each running daemon holds locked.

A daemon writes ``var/run/daemon-<pid>-<token>.running`` at start, holds an ``flock`` on it
while it runs, and removes it at a warm stop. The kernel drops the lock when the process
ends, however it ends: a marker found unlocked at the next start is a run that ended
without a warm stop (killed, crashed, out of memory, or stopped cold, which rolls back the
file in hand). A marker still locked is another daemon running on this root, not a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import IO, Any

from daemon.store.models import utcnow

SUFFIX = ".running"


class RunMarker:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: IO[bytes] | None = None
        self._path: Path | None = None

    def claim(self) -> list[dict[str, Any]]:
        """Hold this run's marker; return what each run that ended uncleanly recorded
        (its pid and start), its marker removed so it is told of once."""
        self.folder.mkdir(parents=True, exist_ok=True)
        ended = [
            found for path in sorted(self.folder.glob(f"*{SUFFIX}")) if (found := _stale(path))
        ]
        record = {"pid": os.getpid(), "started_at": f"{utcnow().isoformat(timespec='seconds')}Z"}
        name = f"daemon-{os.getpid()}-{secrets.token_hex(4)}"
        tmp = self.folder / f".{name}.tmp"
        handle = open(tmp, "wb")  # noqa: SIM115 - held open (locked) until release()
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(json.dumps(record).encode())
        handle.flush()
        self._path = self.folder / f"{name}{SUFFIX}"
        os.replace(tmp, self._path)  # locked before it has its name: never seen unlocked
        self._held = handle
        return ended

    def release(self) -> None:
        """A warm stop: the marker goes (then the lock)."""
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
            self._path = None
        if self._held is not None:
            self._held.close()
            self._held = None


def _stale(path: Path) -> dict[str, Any] | None:
    """What an unlocked marker recorded (and the marker removed); None while its daemon
    runs, or when another daemon starting at the same time took it first."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # its daemon is running
        try:
            path.unlink()
        except FileNotFoundError:
            return None
        try:
            found = json.loads(handle.read() or b"{}")
        except ValueError:  # torn by the crash itself
            found = {}
    return found if isinstance(found, dict) else {}
