"""What every importer is given and gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from daemon.config import Settings
from handlers.base import FileContext


@dataclass
class ImportContext:
    """The file being applied, inside its one transaction."""

    db_session: Session
    settings: Settings
    file: FileContext
    file_id: int
    now: datetime
    progress: Callable[[int, int], None] | None = None  # (done, total) for a person's terminal
    dry_run: bool = False  # the transaction will be rolled back: write no file outside it


@dataclass
class ImportResult:
    """Counts and findings of one file; ``concerns`` names every agent whose status shows a
    number the file changed (a Q&A file that applies waiting refinement records changes the
    refiner's), so each of those statuses is rewritten."""

    delivered: int = 0
    stored: int = 0
    duplicate: int = 0
    skipped: int = 0
    filtered: int = 0
    near_duplicate: int = 0  # marked, or (policy skip) counted in ``duplicate`` too
    details: dict[str, Any] = field(default_factory=dict)
    concerns: set[str] = field(default_factory=set)
    # work that must see the file's rows committed and must not hold the transaction open
    # (a dataset snapshot at batch close); run once, after the commit, never in a dry run
    after_commit: list[Callable[[], None]] = field(default_factory=list)
