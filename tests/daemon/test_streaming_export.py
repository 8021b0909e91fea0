"""A multi-session export streamed a session at a time stores exactly what the whole-file read
stores, and a fault found late rejects it whole with the same reason, nothing stored."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import handlers
from daemon.config import Settings
from daemon.ingest.oneshot import prepare
from daemon.ingest.outcome import FileOutcome
from daemon.ingest.pipeline import Pipeline
from daemon.store.engine import Database
from daemon.store.models import AnswerVersion, FileRecord, QAPairRow
from handlers import export

NAME = "database_qa_export_20251101.json"
SESSIONS, PER_SESSION = 12, 250  # 3,000 pairs: three chunks of the importer (1,000 each)


@pytest.fixture(autouse=True)
def streamed_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports routed to a handler that streams them (export.HANDLER gets ``stream`` once
    the Q&A importer builds the comparison report from a stream too)."""
    wired = tuple(
        dataclasses.replace(h, stream=export.stream) if h is export.HANDLER else h
        for h in handlers.HANDLERS
    )
    monkeypatch.setattr(handlers, "route", functools.partial(handlers.route, handlers=wired))


@pytest.fixture
def other(tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    """A second root and database, for the whole-file read of the same deliveries."""
    settings = Settings(root=tmp_path / "other", settle_seconds=0.2, rescan_seconds=3600)
    for agent in ("droid", "claude", "gemini"):
        (settings.root_path / "outbox" / agent).mkdir(parents=True)
    database = Database(settings.url)
    prepare(settings, database)
    yield settings, database
    database.dispose()


def export_document() -> dict[str, Any]:
    """Sessions of pairs with skipped pairs, faulty sessions, and repeats across chunks."""
    sessions: list[Any] = []
    n = 0
    for s in range(SESSIONS):
        pairs: list[Any] = []
        for i in range(PER_SESSION):
            n += 1
            if i % 97 == 5:
                pairs.append({"question": f"Without an answer {n}?"})
            elif n % 450 == 0:
                pairs.append({"question": f"Question {n - 400}?", "answer": "A repeat."})
            else:
                pairs.append(
                    {
                        "question": f"Question {n}?",
                        "answer": f"Answer {n}. " * (1 + n % 9),
                        "difficulty": "advanced",
                    }
                )
        sessions.append({"session_id": 126 - s, "topic": f"Topic {s}", "qa_pairs": pairs})
    sessions.insert(5, {"topic": "Unnumbered", "qa_pairs": [{"question": "Q?", "answer": "A"}]})
    sessions.insert(9, ["not", "a", "session"])
    return {"export_date": "2025-11-01", "sessions": sessions}


def stored_before() -> list[str]:
    """A Q&A file whose pairs the export asks again, with shorter answers (some 20% shorter)."""
    return [
        json.dumps({"question": f"Question {n}?", "answer": "Short." if n % 2 else "Answer"})
        for n in range(1, 3_000, 37)
    ]


def deliver(root: Path, rel: str, data: bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run(
    settings: Settings, db: Database, data: bytes, *, stream: bool, dry_run: bool = False
) -> FileOutcome:
    """The Q&A file, then the export: streamed (any size) or read whole (no size is enough)."""
    threshold = 1 if stream else 1 << 40
    pipeline = Pipeline(settings.model_copy(update={"stream_min_bytes": threshold}), db)
    first = pipeline.process(
        deliver(
            settings.root_path,
            "outbox/droid/session_03/topic_qa.jsonl",
            "\n".join(stored_before()).encode(),
        )
    )
    assert first.outcome == "imported", first.reason
    return pipeline.process(
        deliver(settings.root_path, f"outbox/claude/{NAME}", data), dry_run=dry_run
    )


def rows(db: Database) -> list[tuple[Any, ...]]:
    columns = [c for c in QAPairRow.__table__.columns if c.name != "created_date"]
    with db.reader() as db_session:
        return [
            tuple(row) for row in db_session.execute(select(*columns).order_by(QAPairRow.qa_id))
        ]


def versions(db: Database) -> list[tuple[Any, ...]]:
    with db.reader() as db_session:
        return [
            tuple(row)
            for row in db_session.execute(
                select(
                    AnswerVersion.qa_id, AnswerVersion.answer, AnswerVersion.source_file_id
                ).order_by(AnswerVersion.id)
            )
        ]


def without_comparison(outcome: FileOutcome) -> dict[str, Any]:
    return {k: v for k, v in outcome.result.details.items() if k != "comparison"}


@pytest.mark.parametrize("policy", ["keep-first", "prefer-longer"])
def test_a_streamed_export_stores_exactly_what_the_whole_read_stores(
    settings: Settings, db: Database, other: tuple[Settings, Database], policy: str
) -> None:
    data = json.dumps(export_document(), indent=1).encode()
    streamed = run(settings.model_copy(update={"dedup_policy": policy}), db, data, stream=True)
    other_settings, other_db = other
    whole = run(
        other_settings.model_copy(update={"dedup_policy": policy}), other_db, data, stream=False
    )
    assert (streamed.outcome, whole.outcome) == ("imported", "imported"), streamed.reason
    result = streamed.result
    assert (result.delivered, result.stored, result.duplicate, result.skipped) == (
        whole.result.delivered,
        whole.result.stored,
        whole.result.duplicate,
        whole.result.skipped,
    )
    assert result.delivered == SESSIONS * PER_SESSION + 2
    assert result.duplicate > 80 and result.skipped == 12 * 3 + 2
    assert without_comparison(streamed) == without_comparison(whole)
    assert rows(db) == rows(other_db)
    assert versions(db) == versions(other_db)
    if policy == "prefer-longer":
        assert result.details["replaced_answers"] > 0


def test_a_fault_in_the_last_session_rejects_the_streamed_export_with_nothing_stored(
    settings: Settings, db: Database, other: tuple[Settings, Database]
) -> None:
    text = json.dumps(export_document(), indent=1)
    cut = text.rindex('"answer"')
    data = (text[:cut] + '"answer" "no colon"' + text[cut + len('"answer"') :]).encode()
    before = rows(db)
    outcome = run(settings, db, data, stream=True)
    assert outcome.outcome == "rejected"
    assert outcome.reason is not None
    line = text[:cut].count("\n") + 1
    assert outcome.reason.startswith(f"outbox/claude/{NAME}, line {line}, column ")
    assert ": invalid JSON at pair " in outcome.reason
    whole = run(*other, data, stream=False)
    assert outcome.reason == whole.reason  # word for word
    assert len(rows(db)) == len(before) + len(stored_before())  # the Q&A file only
    with db.reader() as db_session:
        record = db_session.scalars(select(FileRecord).where(FileRecord.kind == "export")).one()
    assert (record.outcome, record.archive_path is not None) == ("rejected", True)


def test_a_dry_run_of_a_streamed_export_counts_and_compares_as_the_whole_read_and_changes_nothing(
    settings: Settings, db: Database, other: tuple[Settings, Database]
) -> None:
    data = json.dumps(export_document()).encode()
    streamed = run(settings, db, data, stream=True, dry_run=True)
    whole = run(*other, data, stream=False, dry_run=True)
    assert (streamed.outcome, whole.outcome) == ("dry-run", "dry-run")
    assert (streamed.result.stored, streamed.result.duplicate, streamed.result.skipped) == (
        whole.result.stored,
        whole.result.duplicate,
        whole.result.skipped,
    )
    # the dry-run report: the comparison is built chunk by chunk, and comes out the same
    assert whole.result.details["comparison"]["questions"]["already_stored"] > 0
    assert streamed.result.details.get("comparison") == whole.result.details["comparison"]
    assert len(rows(db)) == len(stored_before())
    with db.reader() as db_session:
        assert db_session.scalars(select(FileRecord.kind)).all() == ["qa"]


def test_a_stored_question_asked_twice_chunks_apart_is_replaced_as_the_whole_read_replaces_it(
    settings: Settings, db: Database, other: tuple[Settings, Database]
) -> None:
    pairs = [
        {"question": "Question 1?", "answer": "A" * 20},
        *({"question": f"Filler {i}?", "answer": "F"} for i in range(1_500)),
        {"question": "Question 1?", "answer": "B" * 30},
    ]
    data = json.dumps({"sessions": [{"session_id": 1, "topic": "T", "qa_pairs": pairs}]}).encode()
    policy = {"dedup_policy": "prefer-longer"}
    streamed = run(settings.model_copy(update=policy), db, data, stream=True)
    whole = run(other[0].model_copy(update=policy), other[1], data, stream=False)
    assert whole.result.details["replaced_answers"] == 2  # "Short." -> 20 A -> 30 B
    assert without_comparison(streamed) == without_comparison(whole)
    assert rows(db) == rows(other[1])
    assert versions(db) == versions(other[1])
