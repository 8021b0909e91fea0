"""inboxd driven in this process: quiet logging, a fresh root's settings and database."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daemon.config import Settings, load_settings
from daemon.ingest.oneshot import prepare
from daemon.logging import configure_logging
from daemon.store.engine import Database


def quiet_logging(log_file: Path) -> None:
    """inboxd's logging as configured by its entry points, minus the copy on stdout."""
    configure_logging(log_file, console=False)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (
            sys.stdout,
            sys.stderr,
        ):
            root.removeHandler(handler)


def settings_for(root: Path, **overrides: object) -> Settings:
    """The defaults a user gets (no inboxd.toml, no INBOXD_* variables), on ``root``."""
    return load_settings(root=root, **overrides)


@contextmanager
def prepared(root: Path, **overrides: object) -> Iterator[tuple[Settings, Database]]:
    settings = settings_for(root, **overrides)
    db = Database.for_settings(settings)
    prepare(settings, db)
    try:
        yield settings, db
    finally:
        db.dispose()
