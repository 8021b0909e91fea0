"""Whole-database exports: exact counts, keep-first and prefer-longer, the comparison report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.datagen import export_document, write_json
from daemon.config import Settings
from daemon.ingest.pipeline import Pipeline
from daemon.store.engine import Database
from daemon.store.models import AnswerVersion, Base, FileRecord, QAPairRow


def _count(db: Database, model: type[Base]) -> int:
    with db.reader() as db_session:
        return db_session.scalar(select(func.count()).select_from(model)) or 0


def _export(root: Path, name: str, document: dict[str, Any]) -> Path:
    return write_json(root / "outbox/claude" / f"database_qa_export_{name}.json", document)


def test_large_export_over_an_overlapping_database_has_exact_counts_and_versions(
    settings: Settings, db: Database
) -> None:
    settings = settings.model_copy(update={"dedup_policy": "prefer-longer"})
    pipeline = Pipeline(settings, db)
    # A database of 4,000 pairs with short answers: 1,000 ask what the export asks.
    big = export_document()
    flat = [
        (session["session_id"], pair) for session in big["sessions"] for pair in session["qa_pairs"]
    ]
    overlapping = [
        {"question": pair["question"], "answer": pair["answer"][:200]} for _, pair in flat[:1_000]
    ]
    older = export_document(
        sessions=30, pairs=3_000, answer_length=200, seed=1, question_prefix="older"
    )
    existing = {
        "sessions": [
            {"session_id": 500, "topic": "Overlap", "qa_pairs": overlapping},
            *older["sessions"],
        ]
    }
    first = pipeline.process(_export(settings.root_path, "older", existing))
    assert first.outcome == "imported" and first.result.stored == 4_000

    outcome = pipeline.process(_export(settings.root_path, "big", big))
    assert outcome.outcome == "imported", outcome.reason
    result = outcome.result
    assert result.delivered == 12_188
    assert result.stored + result.duplicate == result.delivered
    assert result.duplicate == 1_000
    assert _count(db, QAPairRow) == 4_000 + 12_188 - 1_000
    # every overlapping answer is ~16x longer: all replaced, each with its version
    assert result.details["replaced_answers"] == 1_000
    assert _count(db, AnswerVersion) == 1_000
    comparison = result.details["comparison"]
    assert comparison["questions"]["already_stored"] == 1_000
    assert comparison["answers_on_overlap"]["prefer_longer_would_replace"] == 1_000
    assert comparison["projected"] == {"pairs_now": 4_000, "pairs_after": 15_188}

    again = pipeline.process(_export(settings.root_path, "big_again", big))
    assert (again.result.stored, again.result.duplicate) == (0, 12_188)
    assert _count(db, QAPairRow) == 15_188


def test_keep_first_never_replaces_an_answer(settings: Settings, db: Database) -> None:
    pipeline = Pipeline(settings, db)
    short = {
        "sessions": [
            {
                "session_id": 1,
                "topic": "SMA",
                "qa_pairs": [{"question": "What is SMA?", "answer": "Mean."}],
            }
        ]
    }
    long = {
        "sessions": [
            {
                "session_id": 1,
                "topic": "SMA",
                "qa_pairs": [
                    {
                        "question": "What is SMA?",
                        "answer": "The arithmetic mean of N closes, in detail.",
                    }
                ],
            }
        ]
    }
    pipeline.process(_export(settings.root_path, "a", short))
    outcome = pipeline.process(_export(settings.root_path, "b", long))
    assert outcome.result.duplicate == 1 and outcome.result.details["replaced_answers"] == 0
    with db.reader() as db_session:
        assert db_session.scalar(select(QAPairRow.answer)) == "Mean."
    assert _count(db, AnswerVersion) == 0


def test_prefer_longer_needs_twenty_percent_more(settings: Settings, db: Database) -> None:
    settings = settings.model_copy(update={"dedup_policy": "prefer-longer"})
    pipeline = Pipeline(settings, db)

    def doc(answer: str) -> dict[str, Any]:
        return {
            "sessions": [
                {
                    "session_id": 1,
                    "topic": "SMA",
                    "qa_pairs": [{"question": "What is SMA?", "answer": answer}],
                }
            ]
        }

    pipeline.process(_export(settings.root_path, "a", doc("x" * 100)))
    assert (
        pipeline.process(_export(settings.root_path, "b", doc("y" * 119))).result.details[
            "replaced_answers"
        ]
        == 0
    )
    assert (
        pipeline.process(_export(settings.root_path, "c", doc("z" * 120))).result.details[
            "replaced_answers"
        ]
        == 1
    )
    with db.reader() as db_session:
        assert db_session.scalar(select(QAPairRow.answer)) == "z" * 120
        assert db_session.scalar(select(AnswerVersion.answer)) == "x" * 100


def test_dry_run_reports_known_overlaps_and_changes_nothing(
    settings: Settings, db: Database
) -> None:
    pipeline = Pipeline(settings, db)
    database = {
        "sessions": [
            {
                "session_id": 1,
                "topic": "RSI",
                "qa_pairs": [{"question": "What is RSI?", "answer": "A momentum oscillator."}],
            },
            {
                "session_id": 2,
                "topic": "OBV",
                "qa_pairs": [
                    {"question": "What is OBV?", "answer": "On-balance volume, a running total."},
                    {"question": "Who made OBV?", "answer": "Joe Granville."},
                ],
            },
        ]
    }
    pipeline.process(_export(settings.root_path, "db", database))
    export = {
        "sessions": [
            {
                "session_id": 3,
                "topic": "MFI",
                "qa_pairs": [{"question": "What is MFI?", "answer": "Money flow index."}],
            },
            {
                "session_id": 2,
                "topic": "Gas Fees",
                "qa_pairs": [
                    {"question": "what is  OBV?", "answer": "x" * 100},
                    {"question": "Who made OBV?", "answer": "Joe."},
                    {"question": "What is MFI?", "answer": "Repeated inside the export."},
                ],
            },
        ]
    }
    before = (_count(db, QAPairRow), _count(db, FileRecord))
    outcome = pipeline.process(_export(settings.root_path, "new", export), dry_run=True)
    assert outcome.outcome == "dry-run"
    assert (_count(db, QAPairRow), _count(db, FileRecord)) == before
    report = outcome.result.details["comparison"]
    assert report["sessions"]["in_both"] == [2]
    assert report["sessions"]["only_in_export"] == [3]
    assert report["sessions"]["only_in_database"] == [1]
    assert report["sessions"]["topic_mismatches"] == [
        {"session": 2, "export": ["Gas Fees"], "database": ["OBV"]}
    ]
    assert report["questions"] == {
        "delivered": 4,
        "unique_in_export": 3,
        "repeated_within_export": 1,
        "already_stored": 2,
        "new": 1,
    }
    assert report["answers_on_overlap"]["longer_in_export"] == 1
    assert report["answers_on_overlap"]["prefer_longer_would_replace"] == 1
    assert report["projected"] == {"pairs_now": 3, "pairs_after": 4}


def test_the_comparison_counts_repeats_across_chunks_alike_streamed_or_whole(
    settings: Settings, db: Database
) -> None:
    """New questions are not remembered (a large export of new pairs costs no memory per
    pair): met again, in the same chunk or a later one, they are found stored by the file."""

    def session(number: int, questions: list[str]) -> dict[str, Any]:
        pairs = [{"question": q, "answer": f"Answer to {q}"} for q in questions]
        return {"session_id": number, "topic": f"Topic {number}", "qa_pairs": pairs}

    stored = [f"Stored question {i}?" for i in range(500)]
    Pipeline(settings, db).process(
        _export(settings.root_path, "db", {"sessions": [session(1, stored)]})
    )
    new = [f"New question {i}?" for i in range(1_500)]
    export = {
        "sessions": [
            session(2, [new[5], *new[:1_000]]),  # a repeat inside the first chunk
            session(3, [*new[1_000:], *stored]),
            session(4, [*new[:200], *stored[:100]]),  # repeats in later chunks
        ]
    }
    path = _export(settings.root_path, "new", export)
    reports = [
        Pipeline(settings.model_copy(update={"stream_min_bytes": threshold}), db)
        .process(path, dry_run=True)
        .result.details["comparison"]["questions"]
        for threshold in (1, 1 << 40)  # streamed, then read whole
    ]
    assert (
        reports[0]
        == reports[1]
        == {
            "delivered": 2_301,
            "unique_in_export": 2_000,
            "repeated_within_export": 301,
            "already_stored": 600,
            "new": 1_500,
        }
    )
