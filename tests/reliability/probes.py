"""What the reliability tests look at: the ledger, the stored pairs, an agent's status file.

Every look opens its own short read session on the test's own engine (never the daemon's),
so the tests see only what the daemon committed.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from watchdog.events import FileSystemEvent

from daemon.live.service import Daemon
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow
from tests.support import read_json_object


@dataclass(frozen=True)
class LedgerRow:
    rel_path: str
    sha256: str
    outcome: str
    pairs_stored: int
    seen_count: int
    reason: str | None


def ledger_rows(db: Database, rel_path: str | None = None) -> list[LedgerRow]:
    """Ledger rows (all, or one path's), oldest first."""
    query = select(
        FileRecord.rel_path,
        FileRecord.sha256,
        FileRecord.outcome,
        FileRecord.pairs_stored,
        FileRecord.seen_count,
        FileRecord.reason,
    ).order_by(FileRecord.id)
    if rel_path is not None:
        query = query.where(FileRecord.rel_path == rel_path)
    with db.reader() as db_session:
        return [LedgerRow(*row) for row in db_session.execute(query).all()]


def pair_count(db: Database) -> int:
    with db.reader() as db_session:
        return db_session.scalar(select(func.count()).select_from(QAPairRow)) or 0


def distinct_question_count(db: Database) -> int:
    with db.reader() as db_session:
        return db_session.scalar(select(func.count(func.distinct(QAPairRow.question_key)))) or 0


def has_question(db: Database, question: str) -> bool:
    with db.reader() as db_session:
        found = db_session.scalar(
            select(func.count()).select_from(QAPairRow).where(QAPairRow.question == question)
        )
        return bool(found)


def agent_status(root: Path, agent: str = "droid") -> dict[str, Any]:
    """``inbox/<agent>/status.json``, or {} while it does not exist yet."""
    try:
        return read_json_object(root / "inbox" / agent / "status.json")
    except FileNotFoundError:
        return {}


def unique_question(tag: str) -> str:
    return f"{tag} question {uuid.uuid4().hex}: what does it measure?"


def qa_document(*questions: str, indicator: str = "OBV") -> bytes:
    """A Q&A JSON file (object shape) with one pair per question."""
    pairs = [{"question": q, "answer": f"The answer to: {q}"} for q in questions]
    return json.dumps({"indicator": indicator, "qa_pairs": pairs}).encode()


def write_then_rename(target: Path, data: bytes) -> float:
    """Deliver the recommended way (dot-temp name, then rename); the monotonic time of the
    rename, from which a deadline for the import can be measured."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.rename(tmp, target)
    return time.monotonic()


def drop_events_of(monkeypatch: pytest.MonkeyPatch, daemon: Daemon, prefix: str) -> None:
    """From now on the daemon's handler sees no event of a file whose name starts with
    ``prefix`` (nor of the dot-temporary file it is written as), however late watchdog
    delivers it: as if inotify had lost them, so only a rescan finds such a file.

    The name is matched, not the path: pytest names each test's folder after the test.
    """
    real_dispatch = type(daemon._handler).dispatch

    def losing(self: object, event: FileSystemEvent) -> None:
        path = event.dest_path or event.src_path
        if not Path(os.fsdecode(path)).name.lstrip(".").startswith(prefix):
            real_dispatch(self, event)  # type: ignore[arg-type]

    monkeypatch.setattr(type(daemon._handler), "dispatch", losing)
