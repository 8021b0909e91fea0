"""Work done once, outside the running daemon: what every command needs before touching
files (folders, schema, question keys), and ``inboxd scan``.

Kept apart from ``daemon.live.service`` so the one-shot commands (``process``, ``scan``,
``status``, ``init``) do not import watchdog and the watcher, a cost every command paid.
"""

from __future__ import annotations

from pathlib import Path

from daemon.config import Settings
from daemon.ingest.assembly import assemble
from daemon.ingest.outcome import FileOutcome
from daemon.ingest.paths import BOXES, scan_tree
from daemon.store import migrate
from daemon.store.engine import Database


def prepare(settings: Settings, db: Database) -> migrate.KeyBackfill:
    """Folders, schema and question keys: everything a command needs before touching files."""
    root = settings.root_path  # resolved once
    for box in BOXES:
        for agent in settings.agents:
            (root / box / agent).mkdir(parents=True, exist_ok=True)
    for folder in (settings.var_dir, settings.archive_dir):
        folder.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(db)
    return migrate.backfill_question_keys(db)


def pending_files(settings: Settings) -> list[Path]:
    """Every candidate delivery in the tree, in the order a person would take them.

    Inbox first (plans before deliveries), completion signals last (a signal speaks of the
    deliveries already there); the rest by path (``Candidate.order``).
    """
    return [Path(found.path) for found in sorted(scan_tree(settings), key=lambda c: c.order)]


def run_burst(settings: Settings, db: Database) -> list[FileOutcome]:
    """``inboxd scan``: process what is there now through the same pipeline, then return."""
    prepare(settings, db)
    pipeline, status = assemble(settings, db, "write-now")
    outcomes = [pipeline.process(path) for path in pending_files(settings)]
    status.write_all()  # every configured agent finds a current status, touched or not
    return outcomes
