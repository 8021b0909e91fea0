"""The samples (the set `inboxd demo` writes): their pair counts, whatever the order of arrival.

docs/formats.md states the outcome in the scan's order; tests/daemon/test_demo.py checks it.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from daemon.cli.demo import demo_set
from daemon.config import Settings
from daemon.ingest.pipeline import Pipeline
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow, SignalRow
from tests.support import SAMPLES, deliver, sample_files

EXPORT = "outbox/claude/database_qa_export_20251030_012343.json"
REFINEMENT = "outbox/gemini/refinement_0001.jsonl"
SIGNAL = "outbox/droid/ALL_SESSIONS_COMPLETE.txt"

# In the order where the export and the signal come last (the SMA file before the export).
STORED = {
    "outbox/droid/session_02/sma_qa_pairs.json": (4, 1),
    "outbox/droid/session_02/ema_qa_pairs.json": (3, 0),
    "outbox/droid/session_02/wma_qa_pairs.jsonl": (3, 0),
    "outbox/droid/session_04/stochastic_qa_pairs.json": (1, 0),
    "outbox/droid/research_report_macd_20251102_1412.txt": (3, 0),
    "outbox/droid/rag_export_20251101.jsonl": (2, 0),
    EXPORT: (4, 1),
}


def _process_in_order(settings: Settings, db: Database, order: list[str]) -> Pipeline:
    pipeline = Pipeline(settings, db)
    for rel in order:
        outcome = pipeline.process(deliver(settings.root_path, rel))
        assert outcome.outcome == "imported", (rel, outcome.reason)
    return pipeline


def _record(db: Database, rel: str) -> FileRecord:
    with db.reader() as db_session:
        record = db_session.scalars(select(FileRecord).where(FileRecord.rel_path == rel)).one()
        return record


def _pairs(db: Database) -> int:
    with db.reader() as db_session:
        return db_session.scalar(select(func.count()).select_from(QAPairRow)) or 0


def _natural_order() -> list[str]:
    rest = [f for f in sample_files() if f not in (EXPORT, REFINEMENT, SIGNAL)]
    return [*rest, EXPORT, REFINEMENT, SIGNAL]


def test_whole_sample_tree_stores_twenty_pairs_with_each_files_expected_counts(
    settings: Settings, db: Database
) -> None:
    _process_in_order(settings, db, _natural_order())
    assert _pairs(db) == 20
    for rel, (stored, duplicates) in STORED.items():
        record = _record(db, rel)
        assert (record.pairs_stored, record.pairs_duplicate) == (stored, duplicates), rel
    rag = _record(db, "outbox/droid/rag_export_20251101.jsonl")
    assert rag.pairs_filtered == 1


def test_sample_tree_without_export_and_refinement_stores_sixteen_pairs(
    settings: Settings, db: Database
) -> None:
    order = [f for f in _natural_order() if f not in (EXPORT, REFINEMENT)]
    _process_in_order(settings, db, order)
    assert _pairs(db) == 16


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_pair_counts_do_not_depend_on_arrival_order(
    settings: Settings, db: Database, seed: int
) -> None:
    order = sample_files()
    random.Random(seed).shuffle(order)
    _process_in_order(settings, db, order)
    assert _pairs(db) == 20
    with db.reader() as db_session:
        delivered = db_session.scalar(select(func.sum(FileRecord.pairs_stored))) or 0
        duplicates = db_session.scalar(select(func.sum(FileRecord.pairs_duplicate))) or 0
    assert (delivered, duplicates) == (20, 2)


def test_export_before_sma_file_keeps_the_exports_shorter_answer(
    settings: Settings, db: Database
) -> None:
    _process_in_order(settings, db, [EXPORT, "outbox/droid/session_02/sma_qa_pairs.json"])
    with db.reader() as db_session:
        answer = db_session.scalar(
            select(QAPairRow.answer).where(
                QAPairRow.question == "What is the Simple Moving Average (SMA)?"
            )
        )
    assert answer == "Shorter answer already present in production."
    assert _record(db, "outbox/droid/session_02/sma_qa_pairs.json").pairs_duplicate == 2


def test_signal_after_everything_lists_session_3_and_adx_as_missing(
    settings: Settings, db: Database
) -> None:
    _process_in_order(settings, db, _natural_order())
    with db.reader() as db_session:
        signal = db_session.scalars(select(SignalRow)).one()
    assert signal.outcome == "closed"
    assert signal.findings is not None
    assert signal.findings["missing_sessions"] == [3]
    assert signal.findings["missing_indicators"] == {"2": ["ADX"]}


def test_refinement_scores_two_pairs_found_by_question_key(
    settings: Settings, db: Database
) -> None:
    _process_in_order(settings, db, _natural_order())
    with db.reader() as db_session:
        scored = db_session.execute(
            select(QAPairRow.question, QAPairRow.quality_score, QAPairRow.tier)
            .where(QAPairRow.quality_score.is_not(None))
            .order_by(QAPairRow.quality_score)
        ).all()
    assert [(q, s, t) for q, s, t in scored] == [
        ("What is a golden cross?", 0.55, "standard"),
        ("What is the Simple Moving Average (SMA)?", 0.91, "premium"),
    ]


def test_analysis_columns_and_pair_numbers_follow_the_legacy_schema(
    settings: Settings, db: Database
) -> None:
    _process_in_order(settings, db, ["outbox/droid/session_02/sma_qa_pairs.json"])
    with db.reader() as db_session:
        rows = db_session.scalars(select(QAPairRow).order_by(QAPairRow.qa_id)).all()
    assert [r.pair_number for r in rows] == [1, 2, 3, 4]
    first = rows[0]
    assert first.answer_length == len(first.answer)
    assert first.has_formula and first.has_examples
    assert rows[1].has_sources  # "according to on-chain analysts"
    assert first.indicator_name == "SMA" and first.session_number == 2


def test_category_comes_from_the_assignment(settings: Settings, db: Database) -> None:
    _process_in_order(
        settings,
        db,
        ["inbox/droid/session-02-assignment.md", "outbox/droid/session_02/ema_qa_pairs.json"],
    )
    with db.reader() as db_session:
        from daemon.store.models import Indicator

        category = db_session.scalar(
            select(Indicator.indicator_category).where(Indicator.indicator_name == "EMA")
        )
    assert category == "Price-Based Technical Indicators"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated_qa_pairs.json", "invalid JSON"),
        ("no_answers_qa_pairs.json", "no usable pair"),
        ("wrong_shape.json", "hello"),
        ("research_report_rsi_20251103_0900.txt", "line 3: no usable pair"),
    ],
)
def test_bad_sample_files_are_rejected_with_their_reason(
    settings: Settings, db: Database, name: str, expected: str
) -> None:
    target = deliver(settings.root_path, f"bad/{name}", f"outbox/droid/{name}")
    outcome = Pipeline(settings, db).process(target)
    assert outcome.outcome == "rejected"
    assert outcome.reason is not None
    assert outcome.reason.startswith(f"outbox/droid/{name}")
    assert expected in outcome.reason
    assert target.exists(), "a rejected file is never deleted"
    assert _pairs(db) == 0


def test_truncated_json_reason_names_line_and_column(settings: Settings, db: Database) -> None:
    target = deliver(
        settings.root_path, "bad/truncated_qa_pairs.json", "outbox/droid/truncated_qa_pairs.json"
    )
    outcome = Pipeline(settings, db).process(target)
    assert outcome.reason is not None
    assert ", line 1, column" in outcome.reason


def test_the_samples_are_the_set_inboxd_demo_writes() -> None:
    """One source: every sample is a file of the demo set, the bad ones in droid's outbox."""
    targets = {demo_file.target.as_posix() for demo_file in demo_set()}
    bad = {f"outbox/droid/{path.name}" for path in (SAMPLES / "bad").iterdir()}
    assert targets == set(sample_files()) | bad
    assert len(bad) == 4
