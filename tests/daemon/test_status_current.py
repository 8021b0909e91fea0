"""``inboxd status`` shows the status files as they are when they are current, and reads the
database otherwise; either way it prints the same text (``daemon/status/current``, issue 16).

Each case runs the command in-process twice: as given, and with ``--fresh`` (the database
read through SQLAlchemy, as before); the time of asking is fixed so the two can be compared
to the byte. Which way the command went is seen by a spy on the database path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from daemon.cli import views as status_command
from daemon.cli.app import EXIT_OK
from daemon.config import load_settings
from daemon.ingest.pipeline import Pipeline
from daemon.status import current, view
from daemon.status.current import STATUS_JSON
from daemon.status.writer import StatusWriter
from daemon.store.engine import Database
from daemon.store.models import utcnow
from daemon.store.revisions import script_head
from tests.support import Run

NOW = "2026-12-03T12:00:00Z"
NEW_FILE = "outbox/droid/session_03/late_qa_pairs.json"


@pytest.fixture
def database_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The agents of each status read from the database; the time of asking fixed."""
    monkeypatch.setattr(current, "now_stamp", lambda: NOW)
    monkeypatch.setattr(view, "now_stamp", lambda: NOW)
    reads: list[list[str]] = []
    from_database = status_command._status_from_database

    def spy(settings: object, agents: list[str], **options: bool) -> object:
        reads.append(list(agents))
        return from_database(settings, agents, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(status_command, "_status_from_database", spy)
    return reads


@pytest.fixture
def scanned(run: Run) -> Run:
    """The demo tree, scanned: every agent's status written at the end, all current."""
    assert run("demo")[0] == EXIT_OK
    run("scan")
    return run


def both_ways(run: Run, *args: str) -> tuple[str, str]:
    """``status ARGS`` as given, then with ``--fresh``; both must succeed."""
    code, shown = run("status", *args)
    assert code == EXIT_OK, shown
    code, fresh = run("status", "--fresh", *args)
    assert code == EXIT_OK, fresh
    return shown, fresh


def status_json(root: Path, agent: str) -> dict[str, object]:
    loaded = orjson.loads((root / "inbox" / agent / STATUS_JSON).read_bytes())
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize(
    "args",
    [[], ["--json"], ["--agent", "droid"], ["--agent", "gemini", "--json"]],
    ids=lambda args: " ".join(args) or "all agents",
)
def test_current_files_are_shown_as_the_database_shows_them(
    scanned: Run, database_reads: list[list[str]], args: list[str]
) -> None:
    shown, fresh = both_ways(scanned, *args)
    assert database_reads == [database_reads[-1]]  # the --fresh run only
    assert shown == fresh
    if "--json" in args:
        assert json.loads(shown)["database"]["pairs"] == 20  # the orchestrator's totals
    else:
        assert "- sessions with pairs:" in shown or "--agent" in args
        assert "## Rejected files" in shown  # the demo's bad files, their reasons


def test_a_file_handled_after_the_last_write_is_read_from_the_database(
    scanned: Run, root: Path, database_reads: list[list[str]]
) -> None:
    """The ledger moved on (an import with no status write): the files are old."""
    late = root / NEW_FILE
    late.parent.mkdir(parents=True)
    late.write_text(json.dumps([{"question": "What does a late MACD cross mean?", "answer": "x"}]))
    settings = load_settings(root=root)
    db = Database.for_settings(settings)
    try:
        assert Pipeline(settings, db).process(late).outcome == "imported"
    finally:
        db.dispose()
    shown, fresh = both_ways(scanned)
    assert len(database_reads) == 2
    assert shown == fresh
    assert "session_03/late_qa_pairs.json" in shown


def test_an_agent_whose_file_is_current_is_shown_from_it_and_the_others_are_not(
    scanned: Run, root: Path, database_reads: list[list[str]]
) -> None:
    """``inboxd process`` rewrites the status of the file's agent and the orchestrator: the
    refiner's file is then older than the ledger, and any status including it is read."""
    late = root / NEW_FILE
    late.parent.mkdir(parents=True)
    late.write_text(json.dumps([{"question": "What does a late RSI dip mean?", "answer": "y"}]))
    assert scanned("process", str(late))[0] == EXIT_OK
    shown, fresh = both_ways(scanned, "--agent", "droid")
    assert database_reads == [["droid"]]  # --fresh only
    assert shown == fresh and "session_03/late_qa_pairs.json" in shown
    shown, fresh = both_ways(scanned)
    assert len(database_reads) == 3
    assert shown == fresh


def _missing(root: Path) -> None:
    (root / "inbox" / "gemini" / STATUS_JSON).unlink()


def _torn(root: Path) -> None:
    path = root / "inbox" / "gemini" / STATUS_JSON
    path.write_bytes(path.read_bytes()[:100])


def _waiting_notice(root: Path) -> None:
    """What the daemon writes while the database is away."""
    settings = load_settings(root=root)
    db = Database.for_settings(settings)
    try:
        StatusWriter(settings, db).mark_waiting(["gemini"], "database is locked", utcnow())
    finally:
        db.dispose()


def _other_settings(root: Path) -> None:
    (root / "inboxd.toml").write_text("recent_files_in_status = 3\n")


def _a_pair_added_behind_inboxd(root: Path) -> None:
    """A user's script inserting into qa_pairs: no ledger row."""
    import sqlite3

    with sqlite3.connect(root / "var" / "inboxd.db") as connection:
        connection.execute(
            "INSERT INTO qa_pairs (indicator_id, indicator_name, pair_number, question, answer)"
            " SELECT indicator_id, indicator_name, 99, 'A script''s question?', 'Its answer.'"
            " FROM qa_pairs LIMIT 1"
        )
    connection.close()


@pytest.mark.parametrize(
    "change",
    [_missing, _torn, _waiting_notice, _other_settings, _a_pair_added_behind_inboxd],
    ids=lambda change: change.__name__.strip("_").replace("_", " "),
)
def test_files_not_current_are_not_shown(
    scanned: Run, root: Path, database_reads: list[list[str]], change: Callable[[Path], None]
) -> None:
    change(root)
    shown, fresh = both_ways(scanned)
    assert len(database_reads) == 2
    assert shown == fresh


def test_the_files_record_what_they_were_counted_from(scanned: Run, root: Path) -> None:
    counted = status_json(root, "droid")[current.COUNTED_KEY]
    assert isinstance(counted, dict)
    assert counted["schema"] == script_head()
    assert counted["files_upto"] == counted["files"] == 18  # the demo's files
    assert counted["pairs"] == 20
    assert all(status_json(root, a)[current.COUNTED_KEY] == counted for a in ("claude", "gemini"))


def test_a_new_dataset_snapshot_is_shown_from_current_files(
    scanned: Run, root: Path, database_reads: list[list[str]]
) -> None:
    """The snapshot is no database row: it is looked up again when the files are shown."""
    assert scanned("dataset", "snapshot", "first", "--format", "jsonl")[0] == EXIT_OK
    shown, fresh = both_ways(scanned, "--agent", "claude")
    assert len(database_reads) == 1
    assert shown == fresh
    assert "last dataset snapshot: first" in shown
