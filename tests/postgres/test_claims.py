"""Claims between daemons on one PostgreSQL database, each interleaving forced on purpose.

"Another daemon" is a second connection holding an open transaction; the pipeline runs in a
thread and is seen blocked by the server (pg_stat_activity) before that transaction commits.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.ingest.oneshot import prepare
from daemon.ingest.outcome import FileOutcome
from daemon.ingest.pipeline import Pipeline
from daemon.store.engine import Database
from daemon.store.locks import MAX_NAMED_LOCKS, is_question_key_conflict, lock_key
from daemon.store.models import FileRecord, Indicator, QAPairRow, utcnow
from handlers.text import question_key
from tests.postgres.conftest import sessions_waiting_on_a_lock
from tests.support import deliver, wait_for

SMA_FILE = "outbox/droid/session_02/sma_qa_pairs.json"
SHARED = "What does on-balance volume add up?"


def _ledger_row(rel_path: str, sha256: str) -> FileRecord:
    return FileRecord(
        agent="droid",
        box="outbox",
        rel_path=rel_path,
        sha256=sha256,
        size=1,
        kind="qa-json",
        outcome="pending",
        pairs_delivered=0,
        pairs_stored=0,
        pairs_duplicate=0,
        pairs_skipped=0,
        pairs_filtered=0,
        processed_at=utcnow(),
        seen_count=1,
    )


def _pair(question: str, indicator: Indicator | None, number: int) -> QAPairRow:
    return QAPairRow(
        indicator_id=indicator.id if indicator else None,
        indicator_name=indicator.indicator_name if indicator else "OTHER",
        pair_number=number,
        question=question,
        answer="Stored by the other one.",
        question_key=question_key(question),
        key_conflict=False,
    )


def _write(root: Path, name: str, indicator: str, questions: list[str]) -> Path:
    path = root / "outbox/droid" / name
    path.write_text(
        json.dumps(
            {
                "indicator": indicator,
                "qa_pairs": [{"question": q, "answer": f"An answer to: {q}"} for q in questions],
            }
        )
    )
    return path


@contextmanager
def _processing(
    settings: Settings, db: Database, path: Path
) -> Iterator[Callable[[], FileOutcome]]:
    """Run the pipeline on ``path`` in a thread; the callable joins it and gives its outcome."""
    found: list[FileOutcome | BaseException] = []

    def work() -> None:
        try:
            found.append(Pipeline(settings, db).process(path))
        except BaseException as exc:
            found.append(exc)

    thread = threading.Thread(target=work, name="pipeline")
    thread.start()

    def outcome() -> FileOutcome:
        thread.join(30)
        assert not thread.is_alive(), "the pipeline did not finish"
        (result,) = found
        if isinstance(result, BaseException):
            raise result
        return result

    try:
        yield outcome
    finally:
        thread.join(30)


def _pairs(db: Database, indicator: str) -> list[tuple[str, int | None]]:
    with db.reader() as db_session:
        rows = db_session.execute(
            select(QAPairRow.question, QAPairRow.pair_number)
            .where(QAPairRow.indicator_name == indicator)
            .order_by(QAPairRow.pair_number)
        ).all()
        return [(question, number) for question, number in rows]


def test_a_file_claimed_by_another_daemon_mid_import_is_left_to_it(
    settings: Settings, db: Database
) -> None:
    path = deliver(settings.root_path, SMA_FILE)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with Session(db.engine) as other:
        other.add(_ledger_row(SMA_FILE, digest))
        other.flush()  # claimed, not yet committed
        with _processing(settings, db, path) as outcome:
            wait_for(lambda: sessions_waiting_on_a_lock(db), what="the pipeline to wait")
            other.commit()
            result = outcome()
    assert (result.outcome, result.reason) == ("unchanged", "already claimed by another daemon")
    with db.reader() as db_session:
        assert db_session.scalars(select(FileRecord.rel_path)).all() == [SMA_FILE]
        assert db_session.scalars(select(QAPairRow.qa_id)).all() == []
    # the pipeline's connection is usable again: the next file is imported
    after = Pipeline(settings, db).process(
        deliver(settings.root_path, "outbox/droid/session_02/ema_qa_pairs.json")
    )
    assert (after.outcome, after.result.stored) == ("imported", 3)


def test_a_question_committed_meanwhile_under_another_indicator_counts_as_duplicate(
    settings: Settings, db: Database
) -> None:
    """No shared indicator lock: the unique key catches it and the whole file runs again."""
    path = _write(
        settings.root_path, "mfi_qa_pairs.json", "MFI", [SHARED, "What is the money flow index?"]
    )
    with Session(db.engine) as other:
        stored = _pair(SHARED, None, 1)
        other.add(stored)
        other.flush()
        stored_id = stored.qa_id
        with _processing(settings, db, path) as outcome:
            wait_for(lambda: sessions_waiting_on_a_lock(db), what="the insert to wait on the key")
            other.commit()
            result = outcome()
    assert result.outcome == "imported"
    assert (result.result.delivered, result.result.stored, result.result.duplicate) == (2, 1, 1)
    assert result.result.details["duplicates"][0]["of"] == stored_id
    assert _pairs(db, "MFI") == [("What is the money flow index?", 1)]
    with db.reader() as db_session:
        (record,) = db_session.scalars(select(FileRecord)).all()
        assert (record.pairs_stored, record.pairs_duplicate) == (1, 1)


def test_writers_of_one_indicator_take_turns_so_numbers_and_indicator_rows_stay_single(
    settings: Settings, db: Database
) -> None:
    path = _write(
        settings.root_path, "obv_qa_pairs.json", "OBV", [SHARED, "Why does OBV lead price?"]
    )
    with Session(db.engine) as other:
        other.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("indicator", "obv")}
        )
        indicator = Indicator(indicator_name="OBV", indicator_category="Volume Indicators")
        other.add(indicator)
        other.flush()
        other.add(_pair(SHARED, indicator, 1))
        other.flush()
        with _processing(settings, db, path) as outcome:
            wait_for(lambda: sessions_waiting_on_a_lock(db), what="the pipeline to take turns")
            other.commit()
            result = outcome()
    assert (result.result.stored, result.result.duplicate) == (1, 1)
    assert _pairs(db, "OBV") == [(SHARED, 1), ("Why does OBV lead price?", 2)]
    with db.reader() as db_session:
        names = db_session.scalars(select(Indicator.indicator_name)).all()
    assert names.count("OBV") == 1


@pytest.fixture(params=["postgresql", "sqlite"])
def either_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "postgresql":
        yield request.getfixturevalue("db")
        return
    settings = Settings(root=tmp_path)
    database = Database(settings.url)
    prepare(settings, database)
    yield database
    database.dispose()


def test_only_the_question_key_counts_as_a_concurrent_store(either_db: Database) -> None:
    """A ledger clash is "claimed by another daemon", never a reason to run the file again."""
    db = either_db
    with Session(db.engine) as db_session:
        db_session.add(_pair(SHARED, None, 1))
        db_session.add(_ledger_row("outbox/droid/x.json", "0" * 64))
        db_session.commit()
    for row, expected in (
        (_pair(SHARED, None, 2), True),
        (_ledger_row("outbox/droid/x.json", "0" * 64), False),
    ):
        with Session(db.engine) as db_session:
            db_session.add(row)
            with pytest.raises(IntegrityError) as caught:
                db_session.flush()
            assert is_question_key_conflict(caught.value) is expected


def test_a_file_with_very_many_indicators_takes_one_lock_for_them_all(
    settings: Settings, db: Database
) -> None:
    """More names than MAX_NAMED_LOCKS: one exclusive lock instead, so it waits for any writer."""
    path = settings.root_path / "outbox/droid/wide_qa_pairs.json"
    names = [f"Indicator {n}" for n in range(MAX_NAMED_LOCKS + 6)]
    path.write_text(
        json.dumps(
            {
                "qa_pairs": [
                    {"indicator": name, "question": f"What is {name}?", "answer": "A measure."}
                    for name in names
                ]
            }
        )
    )
    with Session(db.engine) as other:  # a writer of one other indicator, mid-transaction
        other.execute(
            text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": lock_key("indicator", "")}
        )
        other.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("indicator", "OBV")}
        )
        with _processing(settings, db, path) as outcome:
            wait_for(lambda: sessions_waiting_on_a_lock(db), what="the wide file to wait")
            other.commit()
            result = outcome()
    assert (result.outcome, result.result.stored) == ("imported", len(names))
