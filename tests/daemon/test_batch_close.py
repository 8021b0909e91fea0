"""Closing a batch: backup first, gap report, hand-off to gemini, and the round trip back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

from daemon.config import Settings
from daemon.ingest.pipeline import Pipeline
from daemon.status.writer import StatusWriter
from daemon.store.engine import Database
from daemon.store.models import QAPairRow, SignalRow
from tests.support import deliver, read_json_object, sample_files

SIGNAL = "outbox/droid/ALL_SESSIONS_COMPLETE.txt"
REFINEMENT = "outbox/gemini/refinement_0001.jsonl"


def _deliver_all_but_signal(settings: Settings, db: Database) -> Pipeline:
    pipeline = Pipeline(settings, db, on_status=StatusWriter(settings, db).write)
    for rel in sample_files(exclude=(SIGNAL,)):
        assert pipeline.process(deliver(settings.root_path, rel)).outcome == "imported"
    return pipeline


def _batches(settings: Settings) -> list[Path]:
    return sorted((settings.root_path / "inbox/gemini").glob("refinement-batch-*.jsonl"))


def _gemini(settings: Settings) -> dict[str, Any]:
    return read_json_object(settings.root_path / "inbox/gemini/status.json")


def test_backup_holds_the_pre_signal_database(settings: Settings, db: Database) -> None:
    pipeline = _deliver_all_but_signal(settings, db)
    pipeline.process(deliver(settings.root_path, SIGNAL))
    backups = sorted(settings.backup_dir.glob("inboxd-*.db"))
    assert len(backups) == 2  # one before the sample export was imported, one at the signal
    with sqlite3.connect(backups[-1]) as copy:
        assert copy.execute("SELECT count(*) FROM qa_pairs").fetchone() == (20,)
        assert copy.execute("SELECT count(*) FROM signals").fetchone() == (0,)
        assert copy.execute(
            "SELECT count(*) FROM qa_pairs WHERE handed_at IS NOT NULL"
        ).fetchone() == (0,)


def test_gap_report_is_written_with_the_missing_session(settings: Settings, db: Database) -> None:
    pipeline = _deliver_all_but_signal(settings, db)
    pipeline.process(deliver(settings.root_path, SIGNAL))
    reports = list(settings.report_dir.glob("gap-*.md"))
    assert len(reports) == 1
    text = reports[0].read_text()
    assert "Missing sessions: 03" in text
    assert "Session 02 missing indicators: ADX" in text
    assert "## Topic distribution by category" in text


def test_gemini_batches_hold_exactly_the_unrefined_pairs(settings: Settings, db: Database) -> None:
    settings = settings.model_copy(update={"refinement_batch_size": 5})
    pipeline = _deliver_all_but_signal(settings, db)
    pipeline.process(deliver(settings.root_path, SIGNAL))
    records = [
        orjson.loads(line) for path in _batches(settings) for line in path.read_bytes().splitlines()
    ]
    assert [len(p.read_bytes().splitlines()) for p in _batches(settings)] == [5, 5, 5, 3]
    with db.reader() as db_session:
        unrefined = set(
            db_session.scalars(select(QAPairRow.qa_id).where(QAPairRow.refined_at.is_(None)))
        )
    assert {r["qa_id"] for r in records} == unrefined
    assert len(records) == len(unrefined) == 18
    assert set(records[0]) == {"qa_id", "question_key", "indicator", "question", "answer"}
    assert _gemini(settings)["refinement"]["pending"] == 18


def test_returning_scores_for_every_handed_pair_leaves_nothing_pending(
    settings: Settings, db: Database
) -> None:
    pipeline = _deliver_all_but_signal(settings, db)
    pipeline.process(deliver(settings.root_path, SIGNAL))
    handed = [
        orjson.loads(line) for path in _batches(settings) for line in path.read_bytes().splitlines()
    ]
    back = settings.root_path / "outbox/gemini/refinement_0002.jsonl"
    back.write_bytes(
        b"".join(
            orjson.dumps({"qa_id": r["qa_id"], "quality_score": 0.7, "tier": "standard"}) + b"\n"
            for r in handed
        )
    )
    assert pipeline.process(back).outcome == "imported"
    queue = _gemini(settings)["refinement"]
    assert queue == {"handed": 18, "returned": 18, "pending": 0, "unmatched_records_waiting": 0}
    claude = json.loads((settings.root_path / "inbox/claude/status.json").read_text())
    assert claude["database"]["tiers"] == {"premium": 1, "standard": 19}


def test_a_second_signal_for_a_closed_batch_changes_nothing(
    settings: Settings, db: Database
) -> None:
    pipeline = _deliver_all_but_signal(settings, db)
    pipeline.process(deliver(settings.root_path, SIGNAL))
    again = settings.root_path / "outbox/droid/ALL_SESSIONS_COMPLETE.json"
    again.write_text('{"sessions": 43, "pairs": 4300}')
    outcome = pipeline.process(again)
    assert outcome.result.details["signal"] == "already-closed"
    assert len(_batches(settings)) == 1
    assert len(list(settings.backup_dir.glob("*.db"))) == 2  # the export's and the first signal's
    with db.reader() as db_session:
        assert db_session.scalar(select(func.count()).where(SignalRow.outcome == "closed")) == 1


def test_claims_in_the_signal_are_checked_against_the_database(
    settings: Settings, db: Database
) -> None:
    pipeline = _deliver_all_but_signal(settings, db)
    signal = settings.root_path / "outbox/droid/ALL_SESSIONS_COMPLETE.json"
    signal.write_text('{"sessions": 43, "files": 6, "pairs": 4300}')
    findings = pipeline.process(signal).result.details
    assert {c["claim"]: (c["claimed"], c["database"], c["agrees"]) for c in findings["claims"]} == {
        "sessions": (43, 4, False),
        "files": (6, 6, True),
        "pairs": (4300, 15, False),
    }


def test_refinement_arriving_before_its_pairs_is_applied_when_they_arrive(
    settings: Settings, db: Database
) -> None:
    pipeline = Pipeline(settings, db)
    early = pipeline.process(deliver(settings.root_path, REFINEMENT))
    assert early.result.details["unmatched"] == 2
    pipeline.process(deliver(settings.root_path, "outbox/droid/session_02/sma_qa_pairs.json"))
    with db.reader() as db_session:
        scored = db_session.scalars(
            select(QAPairRow.tier).where(QAPairRow.tier.is_not(None)).order_by(QAPairRow.qa_id)
        ).all()
    assert scored == ["premium", "standard"]
