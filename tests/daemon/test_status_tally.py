"""The status writer's running counts (``StoredTally``) against a fresh count of the database.

A status write reads only the rows added since the last one; these tests check that what it
writes is, after every kind of change, exactly what counting everything again gives.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from daemon.config import Settings
from daemon.fsutil import write_atomic
from daemon.ingest.pipeline import Pipeline
from daemon.status import writer as status_writer
from daemon.status.current import COUNTED_KEY, STATUS_JSON
from daemon.status.view import agent_view
from daemon.status.writer import StatusWriter
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow
from tests.support import deliver, sample_files

EXPORT = "outbox/claude/database_qa_export_20251030_012343.json"
REFINEMENT = "outbox/gemini/refinement_0001.jsonl"
SIGNAL = "outbox/droid/ALL_SESSIONS_COMPLETE.txt"


def _written(settings: Settings, agent: str) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(
        (settings.root_path / "inbox" / agent / STATUS_JSON).read_text()
    )
    view.pop("updated_at")
    view.pop(COUNTED_KEY, None)  # what the view was counted from (SQLite): not the view
    return view


def _fresh(settings: Settings, db: Database, agent: str) -> dict[str, Any]:
    """The view counted from scratch, shaped as the file holds it (JSON keys are strings)."""
    with db.reader() as db_session:
        view = agent_view(db_session, settings, agent)
    view.pop("updated_at")
    loaded: dict[str, Any] = json.loads(json.dumps(view, default=str))
    return loaded


def _assert_current(settings: Settings, db: Database, writer: StatusWriter) -> None:
    writer.write_all()
    for agent in settings.agents:
        assert _written(settings, agent) == _fresh(settings, db, agent), agent


def _order() -> list[str]:
    rest = [f for f in sample_files() if f not in (EXPORT, REFINEMENT, SIGNAL)]
    return [*rest, EXPORT, REFINEMENT, SIGNAL]


@pytest.fixture
def writer(settings: Settings, db: Database) -> StatusWriter:
    return StatusWriter(settings, db)


def test_kept_counts_equal_a_fresh_count_after_every_file(
    settings: Settings, db: Database, writer: StatusWriter
) -> None:
    pipeline = Pipeline(settings, db, on_status=writer.write)
    writer.write_all()  # counted once, on the empty database
    for rel in _order():
        pipeline.process(deliver(settings.root_path, rel))
        _assert_current(settings, db, writer)
    # the same pairs again under another name: a file that brings only duplicates
    pipeline.process(
        deliver(
            settings.root_path,
            "outbox/droid/session_02/sma_qa_pairs.json",
            "outbox/droid/session_02/sma_again_qa_pairs.json",
        )
    )
    _assert_current(settings, db, writer)
    assert 2 in _written(settings, "droid")["sessions"]["delivered"]


def test_a_retried_rejection_is_counted_once(settings: Settings, db: Database) -> None:
    """``inboxd retry`` of a file that now imports deletes its rejected ledger row."""
    narrow = settings.model_copy(update={"agents": ["droid", "claude"]})
    writer = StatusWriter(narrow, db)
    pipeline = Pipeline(narrow, db, on_status=writer.write)
    stray = deliver(
        settings.root_path,
        "outbox/droid/session_02/ema_qa_pairs.json",
        "outbox/gemini/ema_qa_pairs.json",
    )
    assert pipeline.process(stray).outcome == "rejected"  # gemini is not configured yet
    _assert_current(narrow, db, writer)
    writer.settings = pipeline.settings = settings  # SIGHUP: gemini configured
    assert pipeline.process(stray, force=True).outcome == "imported"
    _assert_current(settings, db, writer)
    assert _written(settings, "claude")["database"]["files"] == {"imported": 1}
    assert _written(settings, "gemini")["rejected"] == []


def test_rows_removed_behind_inboxds_back_are_noticed(
    settings: Settings, db: Database, writer: StatusWriter
) -> None:
    pipeline = Pipeline(settings, db, on_status=writer.write)
    for rel in (
        "outbox/droid/session_02/sma_qa_pairs.json",
        "outbox/droid/session_02/ema_qa_pairs.json",
    ):
        pipeline.process(deliver(settings.root_path, rel))
    _assert_current(settings, db, writer)
    with db.transaction() as db_session:  # e.g. a user's cleanup script
        last_pair = db_session.scalar(select(QAPairRow.qa_id).order_by(QAPairRow.qa_id.desc()))
        db_session.execute(delete(QAPairRow).where(QAPairRow.qa_id == last_pair))
        first_file = db_session.scalar(select(FileRecord.id).order_by(FileRecord.id))
        db_session.execute(delete(QAPairRow).where(QAPairRow.source_file_id == first_file))
        db_session.execute(delete(FileRecord).where(FileRecord.id == first_file))
    _assert_current(settings, db, writer)
    # and rows added after that are counted on top of the recount
    pipeline.process(deliver(settings.root_path, "outbox/droid/session_02/wma_qa_pairs.jsonl"))
    _assert_current(settings, db, writer)


def test_rows_updated_behind_inboxds_back_are_noticed_by_the_recount(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update adds no row: the writes do not see it, the tally counted afresh on its own
    thread (here at every write, not every minute) does, and the next write takes it."""
    monkeypatch.setattr(status_writer, "FULL_RECOUNT_SECONDS", 0.0)
    writer = StatusWriter(settings, db)
    pipeline = Pipeline(settings, db, on_status=writer.write)
    for rel in _order():
        pipeline.process(deliver(settings.root_path, rel))
    assert writer._recounting is not None
    writer._recounting.join(30)
    with db.transaction() as db_session:  # e.g. a user's script renumbering a session
        db_session.execute(
            update(QAPairRow).where(QAPairRow.session_number == 2).values(session_number=3)
        )
    writer.write_all()  # nothing new to read: the counts of before
    assert _written(settings, "droid") != _fresh(settings, db, "droid")
    writer._recounting.join(30)  # the count this write started, after the update
    _assert_current(settings, db, writer)


def test_the_files_agent_is_written_before_the_orchestrator(
    settings: Settings, db: Database, writer: StatusWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []
    import daemon.status.writer as status_module

    real = write_atomic

    def recording(path: Path, data: bytes, **kwargs: Any) -> None:
        written.append(path)
        real(path, data, **kwargs)

    monkeypatch.setattr(status_module, "write_atomic", recording)
    writer.write({"claude", "droid"})
    assert [p.parent.name for p in written] == ["droid", "droid", "claude", "claude"]
    assert [p.name for p in written[:2]] == ["STATUS.md", "status.json"]
