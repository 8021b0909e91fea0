"""Large JSON Lines files are read a line at a time: same outcome as read whole, and a fault
found late rejects the whole file with nothing of it stored."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest
from sqlalchemy import func, select

from daemon.config import Settings
from daemon.ingest.oneshot import prepare
from daemon.ingest.outcome import FileOutcome
from daemon.ingest.pipeline import Pipeline
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow
from handlers.base import FileContext
from handlers.qa_json import stream
from tests.support import SAMPLES

PAIRS = 2_600  # three chunks of the importer (1,000 pairs each)


def _lines(count: int, *, repeat_every: int = 0, tag: str = "Stream") -> list[str]:
    lines = []
    for i in range(count):
        n = i - 1 if repeat_every and i % repeat_every == 0 and i else i  # a repeat of the last
        lines.append(json.dumps({"question": f"{tag} question {n}?", "answer": f"Answer {i}."}))
    return lines


def _write(root: Path, rel: str, lines: list[str]) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(settings: Settings, db: Database, path: Path, *, stream: bool) -> FileOutcome:
    threshold = 1 if stream else 1 << 40
    return Pipeline(settings.model_copy(update={"stream_min_bytes": threshold}), db).process(path)


def _pairs(db: Database) -> list[tuple[str, int | None, int | None]]:
    with db.reader() as db_session:
        rows = db_session.execute(
            select(QAPairRow.question, QAPairRow.pair_number, QAPairRow.session_number).order_by(
                QAPairRow.qa_id
            )
        ).all()
        return [(question, pair, work_session) for question, pair, work_session in rows]


def test_streamed_and_whole_reads_store_the_same_pairs(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    lines = _lines(PAIRS, repeat_every=400)  # repeats inside the file, across chunk borders
    path = _write(settings.root_path, "outbox/droid/session_03/obv_qa_pairs.jsonl", lines)
    streamed = _run(settings, db, path, stream=True)
    assert streamed.outcome == "imported", streamed.reason
    repeats = (PAIRS - 1) // 400
    assert (streamed.result.delivered, streamed.result.stored, streamed.result.duplicate) == (
        PAIRS,
        PAIRS - repeats,
        repeats,
    )
    stored = _pairs(db)

    other = Settings(root=tmp_path / "other", settle_seconds=0.2, rescan_seconds=3600)
    other_db = Database(other.url)
    prepare(other, other_db)
    try:
        copy = _write(other.root_path, "outbox/droid/session_03/obv_qa_pairs.jsonl", lines)
        whole = _run(other, other_db, copy, stream=False)
        assert (whole.result.stored, whole.result.duplicate) == (
            streamed.result.stored,
            streamed.result.duplicate,
        )
        assert _pairs(other_db) == stored
        assert stored[0][1:] == (1, 3)  # numbered per indicator, session from the folder
    finally:
        other_db.dispose()


def test_a_bad_line_late_in_a_streamed_file_rejects_it_whole(
    settings: Settings, db: Database
) -> None:
    lines = _lines(PAIRS)
    lines[2_345] = '{"question": "broken", "answer": '
    path = _write(settings.root_path, "outbox/droid/late_fault_qa_pairs.jsonl", lines)
    outcome = _run(settings, db, path, stream=True)
    assert outcome.outcome == "rejected"
    assert outcome.reason is not None
    assert outcome.reason.startswith("outbox/droid/late_fault_qa_pairs.jsonl, line 2346, column")
    assert "invalid JSON on line 2346" in outcome.reason
    assert _pairs(db) == []  # the 2,345 good pairs before it were rolled back
    with db.reader() as db_session:
        record = db_session.scalars(select(FileRecord)).one()
    assert (record.outcome, record.archive_path is not None) == ("rejected", True)


def test_invalid_utf8_late_in_a_streamed_file_names_line_and_column(
    settings: Settings, db: Database
) -> None:
    path = settings.root_path / "outbox/droid/bytes_qa_pairs.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    good = "\n".join(_lines(1_500)).encode() + b"\n"
    path.write_bytes(good + b'{"question": "caf\xe9?", "answer": "x"}\n')
    outcome = _run(settings, db, path, stream=True)
    assert outcome.outcome == "rejected"
    assert "line 1501, column 18: invalid UTF-8 at byte" in (outcome.reason or "")  # as read whole
    assert _pairs(db) == []


def test_a_streamed_file_without_a_usable_pair_is_rejected_with_the_reasons(
    settings: Settings, db: Database
) -> None:
    lines = [json.dumps({"question": f"Q{i}?"}) for i in range(1_200)]
    path = _write(settings.root_path, "outbox/droid/no_answers_qa_pairs.jsonl", lines)
    outcome = _run(settings, db, path, stream=True)
    assert outcome.outcome == "rejected"
    assert "no usable pair (1200 pairs without an answer)" in (outcome.reason or "")


def test_a_streamed_rag_export_filters_by_distance_and_counts_skips(
    settings: Settings, db: Database
) -> None:
    records = []
    for i in range(1_500):
        distance = 0.9 if i % 3 == 0 else 0.1
        records.append(
            json.dumps(
                {
                    "query": f"RAG question {i}?",
                    "response": f"Answer {i}.",
                    "distance": distance,
                    "metadata": {"indicator": "RSI"},
                }
            )
        )
    records[7] = json.dumps({"query": "no answer here?", "distance": 0.1})
    path = _write(settings.root_path, "outbox/droid/rag_export_big.jsonl", records)
    outcome = _run(settings, db, path, stream=True)
    assert outcome.outcome == "imported", outcome.reason
    assert (outcome.result.filtered, outcome.result.skipped) == (500, 1)
    assert outcome.result.stored == 999
    assert outcome.result.details["skipped"][0]["line"] == 8
    assert outcome.result.details["filtered_reason"] == "distance at or above 0.5"


@pytest.mark.parametrize(
    "content",
    [
        "[\n" + ",\n".join(_lines(3)) + "\n]\n",  # one document in a .jsonl file
        "\ufeff" + "\n".join(_lines(3)),  # a UTF-8 BOM
    ],
)
def test_files_that_cannot_be_streamed_are_read_whole(
    settings: Settings, db: Database, content: str
) -> None:
    path = settings.root_path / "outbox/droid/odd_qa_pairs.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    outcome = _run(settings, db, path, stream=True)
    assert outcome.outcome == "imported", outcome.reason
    assert outcome.result.stored == 3


def test_utf16_jsonl_is_streamed_through_a_utf8_view(settings: Settings, db: Database) -> None:
    path = settings.root_path / "outbox/droid/wide_qa_pairs.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("\n".join(_lines(4, tag="Café ✓")).encode("utf-16"))  # with its BOM
    ctx = FileContext(agent="droid", box="outbox", rel_path=PurePosixPath(path.name))
    with open(path, "rb") as source:
        assert stream(source, ctx) is not None
    assert _run(settings, db, path, stream=True).result.stored == 4
    assert _pairs(db)[0][0] == "Café ✓ question 0?"


def test_a_sample_jsonl_delivery_streams_like_it_reads(settings: Settings, db: Database) -> None:
    sample = next((SAMPLES / "outbox").rglob("*.jsonl"))
    target = settings.root_path / sample.relative_to(SAMPLES)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(sample.read_bytes())
    outcome = _run(settings, db, target, stream=True)
    assert outcome.outcome == "imported", outcome.reason
    with db.reader() as db_session:
        assert (
            db_session.scalar(select(func.count()).select_from(QAPairRow)) == outcome.result.stored
        )
