"""A large Q&A file in the object shape imports all its pairs through the real pipeline.

Issue 14, point 1: a file over ``stream_min_bytes`` holding ``{"indicator", "session",
"qa_pairs": [...]}`` on one line was streamed as JSON Lines, one record, and rejected as
"pair 1 has no question and no answer".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from daemon.config import Settings
from daemon.ingest.outcome import FileOutcome
from daemon.ingest.pipeline import Pipeline
from daemon.store.engine import Database
from daemon.store.models import QAPairRow


def _write(root: Path, rel: str, doc: object, *, indent: int | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=indent), encoding="utf-8")
    return path


def _stored(db: Database) -> list[tuple[str | None, int | None]]:
    with db.reader() as db_session:
        rows = db_session.execute(
            select(QAPairRow.indicator_name, QAPairRow.session_number).order_by(QAPairRow.qa_id)
        ).all()
    return [(indicator, session) for indicator, session in rows]


def _doc(count: int, answer_chars: int = 20) -> dict[str, object]:
    return {
        "indicator": "RSI",
        "session": 7,
        "qa_pairs": [
            {"question": f"Object question {i}?", "answer": f"{i} " + "x" * answer_chars}
            for i in range(count)
        ],
    }


@pytest.mark.parametrize("indent", [None, 2])
def test_a_streamed_object_file_imports_every_pair_with_its_metadata(
    settings: Settings, db: Database, indent: int | None
) -> None:
    path = _write(settings.root_path, "outbox/droid/big_qa_pairs.json", _doc(2_600), indent=indent)
    low = settings.model_copy(update={"stream_min_bytes": 1})
    outcome = Pipeline(low, db).process(path)
    assert outcome.outcome == "imported", outcome.reason
    assert (outcome.result.delivered, outcome.result.stored) == (2_600, 2_600)
    assert set(_stored(db)) == {("RSI", 7)}


def test_the_issue_case_over_the_real_threshold_imports(settings: Settings, db: Database) -> None:
    """18,000 pairs of 1,000 characters: 18 MB, over the default 16 MiB."""
    path = _write(settings.root_path, "outbox/droid/huge_qa_pairs.json", _doc(18_000, 1_000))
    assert path.stat().st_size > settings.stream_min_bytes
    outcome: FileOutcome = Pipeline(settings, db).process(path)
    assert outcome.outcome == "imported", outcome.reason
    assert outcome.result.stored == 18_000
    assert set(_stored(db)) == {("RSI", 7)}
