"""Database backups: SQLite's online backup API, so a running daemon need not stop.

The copy is written beside its final name and renamed into place once complete.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from daemon.errors import ConfigError
from daemon.fsutil import fsync_dir


def sqlite_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise ConfigError(
            f"backups are built in for SQLite only; for {parsed.get_backend_name()} "
            "use the server's own tools (pg_dump)"
        )
    return Path(parsed.database)


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
