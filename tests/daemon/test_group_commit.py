"""Group commit: files taken together are imported in one transaction, a savepoint each.

In-process on a real database (SQLite here, PostgreSQL in tests/postgres/test_group_commit.py
with the same tests): a file that fails is rolled back alone and recorded with its reason,
while the others commit; the group is one commit; each file keeps its own outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import event, func, select, text

from daemon.config import Settings
from daemon.ingest import importers
from daemon.ingest.assembly import assemble
from daemon.ingest.importers.base import ImportContext, ImportResult
from daemon.ingest.outcome import FileOutcome
from daemon.ingest.pipeline import Pipeline
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow

Importer = Callable[[ImportContext, Any], ImportResult]


def _qa_file(root: Path, name: str, indicator: str, questions: list[str]) -> Path:
    path = root / "outbox" / "droid" / name
    pairs = [{"question": q, "answer": f"The answer to: {q}"} for q in questions]
    path.write_bytes(orjson.dumps({"indicator": indicator, "qa_pairs": pairs}))
    return path


@pytest.fixture
def group_pipeline(settings: Settings, db: Database) -> Iterator[tuple[Pipeline, list[set[str]]]]:
    asked: list[set[str]] = []
    built, _status = assemble(settings, db, asked.append)
    yield built, asked


@pytest.fixture
def commits(db: Database) -> Iterator[list[int]]:
    """Every commit the engine makes (savepoints are not commits)."""
    made: list[int] = []

    def count(_connection: Any) -> None:
        made.append(1)

    event.listen(db.engine, "commit", count)
    yield made
    event.remove(db.engine, "commit", count)


def _pairs_of(db: Database) -> dict[str, int]:
    """Stored pairs by source file path."""
    with db.reader() as db_session:
        rows = db_session.execute(
            select(FileRecord.rel_path, func.count(QAPairRow.qa_id))
            .join(QAPairRow, QAPairRow.source_file_id == FileRecord.id)
            .group_by(FileRecord.rel_path)
        ).all()
    return {path: count for path, count in rows}


def _ledger(db: Database) -> dict[str, str]:
    with db.reader() as db_session:
        rows = db_session.execute(select(FileRecord.rel_path, FileRecord.outcome)).all()
    return {path: outcome for path, outcome in rows}


def _outcomes(results: Sequence[FileOutcome | Exception]) -> list[str]:
    return [r.outcome if isinstance(r, FileOutcome) else type(r).__name__ for r in results]


def test_a_group_is_imported_in_one_commit_with_each_file_its_own_outcome(
    settings: Settings,
    db: Database,
    group_pipeline: tuple[Pipeline, list[set[str]]],
    commits: list[int],
) -> None:
    built, asked = group_pipeline
    paths = [
        _qa_file(
            settings.root_path, f"rsi_{n}.json", "RSI", [f"Question {n}.{i}?" for i in range(3)]
        )
        for n in range(5)
    ]
    commits.clear()  # the dedupe read and the group: nothing else commits
    results = built.process_group(paths)
    assert _outcomes(results) == ["imported"] * 5
    assert len(commits) <= 2, "one commit for the group (and one for the ledger's read)"
    assert _pairs_of(db) == {f"outbox/droid/rsi_{n}.json": 3 for n in range(5)}
    assert [r.result.stored for r in results if isinstance(r, FileOutcome)] == [3] * 5
    assert asked == [{"droid", "claude"}], "one status request for the whole group"
    # pair numbers stay dense per indicator across the files of one transaction
    with db.reader() as db_session:
        numbers = sorted(n or 0 for n in db_session.scalars(select(QAPairRow.pair_number)))
    assert numbers == list(range(1, 16))


def test_a_file_that_fails_in_a_group_is_rolled_back_alone_and_recorded_failed(
    settings: Settings,
    db: Database,
    group_pipeline: tuple[Pipeline, list[set[str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built, _asked = group_pipeline
    real: Importer = importers.IMPORTERS["qa"]

    def failing_for_bad(ictx: ImportContext, model: Any) -> ImportResult:
        result = real(ictx, model)  # its rows are written: the savepoint must undo them
        if ictx.file.name.startswith("bad"):
            # a row the database refuses (an IntegrityError, not a busy database):
            # PostgreSQL's transaction is aborted until the rollback to the savepoint
            ictx.db_session.execute(text("INSERT INTO files (rel_path) VALUES (NULL)"))
        return result

    monkeypatch.setitem(importers.IMPORTERS, "qa", failing_for_bad)  # the pipeline's too
    root = settings.root_path
    paths = [
        _qa_file(root, "good_1.json", "MACD", ["Good one?", "Good two?"]),
        _qa_file(root, "bad_2.json", "MACD", ["Bad one?", "Bad two?", "Bad three?"]),
        _qa_file(root, "good_3.json", "MACD", ["Good three?"]),
    ]
    results = built.process_group(paths)
    assert _outcomes(results) == ["imported", "failed", "imported"]
    failed = results[1]
    assert isinstance(failed, FileOutcome) and failed.reason is not None
    assert "outbox/droid/bad_2.json" in failed.reason and "internal error" in failed.reason
    assert _pairs_of(db) == {"outbox/droid/good_1.json": 2, "outbox/droid/good_3.json": 1}
    assert _ledger(db) == {
        "outbox/droid/good_1.json": "imported",
        "outbox/droid/bad_2.json": "failed",
        "outbox/droid/good_3.json": "imported",
    }
    with db.reader() as db_session:  # the numbers the failed file took were given back
        numbers = sorted(n or 0 for n in db_session.scalars(select(QAPairRow.pair_number)))
    assert numbers == [1, 2, 3]


def test_rejected_unchanged_and_duplicate_files_keep_their_outcomes_in_a_group(
    settings: Settings, db: Database, group_pipeline: tuple[Pipeline, list[set[str]]]
) -> None:
    built, _asked = group_pipeline
    root = settings.root_path
    first = _qa_file(root, "obv_1.json", "OBV", ["What is OBV?", "How is OBV read?"])
    assert _outcomes(built.process_group([first])) == ["imported"]
    broken = root / "outbox" / "droid" / "obv_broken.json"
    broken.write_bytes(b'{"indicator": "OBV", "qa_pairs": [\n  {"question": "x?",\n')
    again = _qa_file(root, "obv_2.json", "OBV", ["What is OBV?", "Why does OBV lead?"])
    results = built.process_group([first, broken, again])
    assert _outcomes(results) == ["unchanged", "rejected", "imported"]
    rejected = results[1]
    assert isinstance(rejected, FileOutcome) and rejected.reason is not None
    assert "obv_broken.json" in rejected.reason and "line" in rejected.reason
    imported = results[2]
    assert isinstance(imported, FileOutcome)
    assert (imported.result.stored, imported.result.duplicate) == (1, 1)
    assert _ledger(db)["outbox/droid/obv_broken.json"] == "rejected"


def test_a_question_in_two_files_of_one_group_is_stored_once(
    settings: Settings, db: Database, group_pipeline: tuple[Pipeline, list[set[str]]]
) -> None:
    built, _asked = group_pipeline
    root = settings.root_path
    paths = [
        _qa_file(root, "atr_1.json", "ATR", ["What does ATR measure?"]),
        _qa_file(root, "atr_2.json", "ATR", ["What does  ATR measure?", "Is ATR directional?"]),
    ]
    results = built.process_group(paths)
    assert _outcomes(results) == ["imported", "imported"]
    second = results[1]
    assert isinstance(second, FileOutcome)
    assert (second.result.stored, second.result.duplicate) == (1, 1)
    assert sum(_pairs_of(db).values()) == 2


def fail_files_named_bad(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Q&A importer raises (a bug) after its work for a file whose name starts "bad"."""
    real: Importer = importers.IMPORTERS["qa"]

    def failing_for_bad(ictx: ImportContext, model: Any) -> ImportResult:
        result = real(ictx, model)
        if ictx.file.name.startswith("bad"):
            raise RuntimeError("an importer bug, after the file's rows, indicators and locks")
        return result

    monkeypatch.setitem(importers.IMPORTERS, "qa", failing_for_bad)  # the pipeline's too


def test_an_indicator_made_by_a_file_rolled_back_is_made_again_for_the_next(
    settings: Settings,
    db: Database,
    group_pipeline: tuple[Pipeline, list[set[str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The files of a group share what was read of the indicators; a file rolled back takes
    the indicator it created with it, and the next file must not point at that row."""
    built, _asked = group_pipeline
    fail_files_named_bad(monkeypatch)
    root = settings.root_path
    paths = [
        _qa_file(root, "bad_1.json", "Ichimoku Cloud", ["What is the Kijun-sen?"]),
        _qa_file(root, "good_2.json", "Ichimoku Cloud", ["What is the Tenkan-sen?"]),
    ]
    assert _outcomes(built.process_group(paths)) == ["failed", "imported"]
    with db.reader() as db_session:
        rows = db_session.execute(
            text(
                "SELECT i.indicator_name, q.pair_number FROM qa_pairs q "
                "JOIN crypto_indicators i ON i.id = q.indicator_id"
            )
        ).all()
    assert [tuple(row) for row in rows] == [("Ichimoku Cloud", 1)]


def test_an_assignment_earlier_in_a_group_is_seen_by_the_pairs_after_it(
    settings: Settings, db: Database, group_pipeline: tuple[Pipeline, list[set[str]]]
) -> None:
    """The indicators' plans read for one file are read again once an assignment changed them."""
    built, _asked = group_pipeline
    root = settings.root_path
    first = _qa_file(root, "sma_1.json", "SMA", ["What is an SMA?"])
    assignment = root / "inbox" / "droid" / "session-07-assignment.md"
    assignment.write_text(
        "# Session 07 Assignment: Averages\nCategory: Trend\n## Indicators\n1. EMA\n"
    )
    later = _qa_file(root, "ema_1.json", "EMA", ["What is an EMA?"])
    assert _outcomes(built.process_group([first, assignment, later])) == ["imported"] * 3
    with db.reader() as db_session:
        sessions = dict(
            db_session.execute(select(QAPairRow.indicator_name, QAPairRow.session_number)).all()
        )
    assert sessions == {"SMA": None, "EMA": 7}


def test_a_copy_that_cannot_be_written_fails_its_own_file_only(
    settings: Settings, db: Database, group_pipeline: tuple[Pipeline, list[set[str]]]
) -> None:
    """Archive copies are written in the background; the one that fails fails its file alone,
    whose ledger row then names no copy, and every copy a committed row names is on disk."""
    built, _asked = group_pipeline
    root = settings.root_path
    paths = [_qa_file(root, f"vwap_{n}.json", "VWAP", [f"VWAP question {n}?"]) for n in range(3)]
    import hashlib

    blocked = hashlib.sha256(paths[1].read_bytes()).hexdigest()[:2]
    others = {hashlib.sha256(p.read_bytes()).hexdigest()[:2] for p in (paths[0], paths[2])}
    assert blocked not in others, "the test's files must land in different archive folders"
    settings.archive_dir.mkdir(parents=True, exist_ok=True)
    (settings.archive_dir / blocked).write_text("a file where the folder should be")
    results = built.process_group(paths)
    assert _outcomes(results) == ["imported", "failed", "imported"]
    failed = results[1]
    assert isinstance(failed, FileOutcome) and failed.reason is not None
    assert "outbox/droid/vwap_1.json" in failed.reason
    with db.reader() as db_session:
        named = dict(db_session.execute(select(FileRecord.rel_path, FileRecord.archive_path)).all())
    assert named["outbox/droid/vwap_1.json"] is None
    kept = [named[f"outbox/droid/vwap_{n}.json"] for n in (0, 2)]
    assert all(path is not None and (root / path).is_file() for path in kept)
