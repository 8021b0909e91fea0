"""Database backups: SQLite's online backup API, so a running daemon need not stop.

The copy is written beside its final name and renamed into place once complete. Backups
taken by inboxd (``inboxd backup``, and the automatic ones before a change that is hard to
undo: a batch close, a whole-database export, ``retry --rejected``) keep the folder to the
newest ``backup_keep``; the names sort in the order they were taken. On another engine the
automatic ones are skipped, saying why: its own tools (pg_dump) do that job.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from daemon.errors import ConfigError, TransientError
from daemon.fsutil import fsync_dir

BACKUP_PATTERN = "inboxd-*.db"


@dataclass(frozen=True)
class BackupFile:
    """One backup as ``inboxd backup --list`` shows it."""

    path: Path
    size: int
    taken_at: datetime  # the file's modification time, UTC


@dataclass(frozen=True)
class AutomaticBackup:
    """What an automatic backup did: the copy and the backups pruned, or why none was taken."""

    path: Path | None
    pruned: int = 0
    skipped: str | None = None

    def fields(self, root: Path) -> dict[str, object]:
        """The fields of the event that reports it (the copy's path relative to ``root``)."""
        found: dict[str, object] = {
            "backup": None if self.path is None else self.path.relative_to(root).as_posix(),
            "pruned": self.pruned,
        }
        if self.skipped is not None:
            found["skipped"] = self.skipped
        return found


def unsupported(url: str) -> str | None:
    """Why this database has no built-in backup, or None (SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return None
    return (
        f"backups are built in for SQLite only; for {parsed.get_backend_name()} "
        "use the server's own tools (pg_dump)"
    )


def sqlite_path(url: str) -> Path:
    reason = unsupported(url)
    if reason is not None:
        raise ConfigError(reason)
    return Path(str(make_url(url).database))


def backup(url: str, folder: Path, now: datetime) -> Path:
    """Copy the database to ``folder/inboxd-<stamp>.db`` and return that path."""
    source_path = sqlite_path(url)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"inboxd-{now:%Y%m%d-%H%M%S-%f}.db"
    tmp = target.with_name(f".{target.name}.tmp")
    _copy_database(source_path, tmp)
    os.replace(tmp, target)
    fsync_dir(folder)
    return target


def backup_and_prune(url: str, folder: Path, now: datetime, keep: int) -> tuple[Path, int]:
    """A backup, then the oldest removed down to ``keep``: (the copy, how many removed)."""
    taken = backup(url, folder, now)
    return taken, prune(folder, keep)


def automatic_backup(url: str, folder: Path, now: datetime, keep: int) -> AutomaticBackup:
    """A backup before a change that is hard to undo; skipped (saying why) off SQLite.

    A copy that cannot be written (a full disk, an unreadable database) is a
    ``TransientError``: the change waits for its backup, it never goes ahead without one.
    """
    reason = unsupported(url)
    if reason is not None:
        return AutomaticBackup(None, skipped=reason)
    try:
        taken, pruned = backup_and_prune(url, folder, now, keep)
    except (sqlite3.Error, OSError) as exc:
        raise TransientError(f"backup failed: {exc}") from exc
    return AutomaticBackup(taken, pruned)


def list_backups(folder: Path) -> list[BackupFile]:
    """The backups in ``folder``, oldest first."""
    found = []
    for path in sorted(folder.glob(BACKUP_PATTERN)):
        try:
            stat = path.stat()
        except FileNotFoundError:  # pruned meanwhile
            continue
        found.append(BackupFile(path, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
    return found


def prune(folder: Path, keep: int) -> int:
    """Remove the oldest backups beyond the newest ``keep``; returns how many were removed."""
    oldest_first = sorted(folder.glob(BACKUP_PATTERN))
    removed = 0
    for path in oldest_first[: max(0, len(oldest_first) - max(1, keep))]:
        try:
            path.unlink()
        except FileNotFoundError:  # another process pruned it first
            continue
        removed += 1
    if removed:
        fsync_dir(folder)
    return removed


def restore(url: str, backup_file: Path) -> None:
    """Replace the database's content with a backup's (the daemon should be stopped)."""
    if not backup_file.is_file():
        raise ConfigError(f"no backup at {backup_file}")
    _copy_database(backup_file, sqlite_path(url))


def _copy_database(source_path: Path, dest_path: Path) -> None:
    """SQLite's online backup: a consistent copy even while others write."""
    source = sqlite3.connect(source_path)
    try:
        dest = sqlite3.connect(dest_path)
        try:
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()
