"""Files that wait for a person, not for inboxd: deliveries the daemon may not read.

An unreadable file is not the file's fault, so it is never recorded in the ledger (which
would mark it handled). It is kept here instead, by the pipeline that met it: its reason is
shown in its agent's status (``waiting_files``) and logged once; it is read again only when
its metadata changes (chmod, chown, a new version: an inotify attribute event or a rescan
brings it back), and it leaves the list once it is read, deleted or gone.
"""

from __future__ import annotations

import os
import pwd
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from daemon.ingest.paths import Location
from daemon.store.models import utcnow

# what a fix changes: mode, owner, group (chmod, chown, ACLs via ctime), or a new version
Signature = tuple[int, int, int, int, int, int, int]


def signature(stat: os.stat_result) -> Signature:
    """The metadata whose change may make a file readable."""
    return (
        stat.st_ino,
        stat.st_mode,
        stat.st_uid,
        stat.st_gid,
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ctime_ns,
    )


def unreadable_reason(where: Location) -> str:
    """What an agent is told about a delivery the daemon may not read, and how to fix it."""
    return (
        f"{where.rel_root}: permission denied: cannot read; the daemon runs as "
        f"{_daemon_user()}: chmod a+r it (a+x its folders) or chown it to that user"
    )


def _daemon_user() -> str:
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (a container)
        return f"uid {uid}"
    return f"{name} (uid {uid})"


@dataclass(frozen=True)
class WaitingFile:
    agent: str
    rel_root: str
    reason: str
    since: datetime
    seen: Signature | None  # the metadata when it was last tried (None: not even stat-able)


class WaitingFiles:
    """The files waiting now, by real path; shared by the worker, the watcher and the status."""

    def __init__(self) -> None:
        self._files: dict[Path, WaitingFile] = {}
        self._lock = threading.Lock()

    def note(self, where: Location, reason: str, seen: Signature | None) -> bool:
        """Record a failed read; True when it is news (new, or a new reason) to log and show."""
        with self._lock:
            known = self._files.get(where.path)
            since = known.since if known is not None else utcnow()
            self._files[where.path] = WaitingFile(where.agent, where.rel_root, reason, since, seen)
            return known is None or known.reason != reason

    def unchanged(self, path: Path, seen: Signature) -> str | None:
        """The reason it waits, when nothing that could fix it changed since the last try."""
        with self._lock:
            known = self._files.get(path)
            return known.reason if known is not None and known.seen == seen else None

    def clear(self, path: Path) -> bool:
        """The file was read, or is gone; True when it had been waiting."""
        with self._lock:
            return self._files.pop(path, None) is not None

    def holds(self, path: Path) -> bool:
        with self._lock:
            return path in self._files

    def paths(self) -> list[Path]:
        with self._lock:
            return list(self._files)

    def of(self, agent: str) -> list[WaitingFile]:
        """An agent's waiting files, oldest first (``status.view`` shows them)."""
        with self._lock:
            return sorted(
                (f for f in self._files.values() if f.agent == agent),
                key=lambda f: (f.since, f.rel_root),
            )
