"""Group commit on PostgreSQL: the same tests as on SQLite (savepoints, one commit, a failed
file rolled back alone while the transaction goes on), and a file another daemon is importing
left for later."""

import hashlib
from typing import Any

import pytest
from sqlalchemy import event, text

from daemon.config import Settings
from daemon.ingest.outcome import FileOutcome
from daemon.ingest.pipeline import Pipeline
from daemon.store.engine import Database
from daemon.store.locks import BusyElsewhere, lock_key
from tests.daemon.test_group_commit import (  # noqa: F401 (collected here with PG fixtures)
    _outcomes,
    _qa_file,
    commits,
    fail_files_named_bad,
    group_pipeline,
    test_a_file_that_fails_in_a_group_is_rolled_back_alone_and_recorded_failed,
    test_a_group_is_imported_in_one_commit_with_each_file_its_own_outcome,
    test_a_question_in_two_files_of_one_group_is_stored_once,
    test_an_assignment_earlier_in_a_group_is_seen_by_the_pairs_after_it,
    test_an_indicator_made_by_a_file_rolled_back_is_made_again_for_the_next,
    test_rejected_unchanged_and_duplicate_files_keep_their_outcomes_in_a_group,
)


def test_a_file_another_daemon_is_importing_is_left_for_later_not_waited_for(
    settings: Settings,
    db: Database,
    group_pipeline: tuple[Pipeline, list[set[str]]],  # noqa: F811 (the fixture imported above)
) -> None:
    """Another daemon's open group holds the file's lock: this group skips it at once
    (BusyElsewhere, taken again later) and imports the others; once free, it is imported."""
    built, _asked = group_pipeline
    root = settings.root_path
    held = _qa_file(root, "held.json", "CCI", ["Held question?"])
    free = _qa_file(root, "free.json", "CCI", ["Free question?"])
    digest = hashlib.sha256(held.read_bytes()).hexdigest()
    with db.engine.connect() as other:  # the other daemon's transaction, still open
        assert other.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"),
            {"key": lock_key("file", f"outbox/droid/held.json\0{digest}")},
        ).scalar()
        results = built.process_group([held, free])
        assert isinstance(results[0], BusyElsewhere)
        assert isinstance(results[1], FileOutcome) and results[1].outcome == "imported"
        other.rollback()
    assert _outcomes(built.process_group([held])) == ["imported"]


def test_an_indicator_lock_is_taken_once_per_group_and_again_after_a_rollback(
    settings: Settings,
    db: Database,
    group_pipeline: tuple[Pipeline, list[set[str]]],  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Files of one group on one indicator ask for its lock once; a file rolled back to its
    savepoint gave its locks back with it, so the next file asks again."""
    built, _asked = group_pipeline
    key = lock_key("indicator", "MACD")
    taken: list[int] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if "pg_advisory_xact_lock(" in statement and parameters.get("key") == key:
            taken.append(1)

    event.listen(db.engine, "before_cursor_execute", seen)
    root = settings.root_path
    paths = [_qa_file(root, f"macd_{n}.json", "MACD", [f"MACD question {n}?"]) for n in range(4)]
    assert _outcomes(built.process_group(paths)) == ["imported"] * 4
    assert len(taken) == 1

    fail_files_named_bad(monkeypatch)
    taken.clear()
    again = [
        _qa_file(root, "bad_macd.json", "MACD", ["A MACD question that fails?"]),
        _qa_file(root, "macd_after.json", "MACD", ["A MACD question after it?"]),
    ]
    assert _outcomes(built.process_group(again)) == ["failed", "imported"]
    assert len(taken) == 2
    event.remove(db.engine, "before_cursor_execute", seen)
