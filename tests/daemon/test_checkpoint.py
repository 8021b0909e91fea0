"""A large file's WAL is copied into the database by a thread after its commit, not by the
commit (``daemon/store/checkpoint.py``); every other commit keeps SQLite's own checkpoints."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from daemon.config import Settings
from daemon.ingest.pipeline import Pipeline
from daemon.store.checkpoint import Checkpointer
from daemon.store.engine import Database
from tests.support import console_probe

PAIRS = 3_000


def large_export(settings: Settings) -> Path:
    """About 6 MB: well over SQLite's 1,000 pages, so a commit would checkpoint it."""
    pairs = [{"question": f"Question {n}?", "answer": f"Answer {n}. " * 150} for n in range(PAIRS)]
    document = {"sessions": [{"session_id": 1, "topic": "Topic", "qa_pairs": pairs}]}
    path = settings.root_path / "outbox" / "claude" / "database_qa_export_1.json"
    path.write_text(json.dumps(document))
    return path


def import_large(settings: Settings, db: Database) -> None:
    streaming = settings.model_copy(update={"stream_min_bytes": 1})
    outcome = Pipeline(streaming, db).process(large_export(settings))
    assert outcome.outcome == "imported", outcome.reason
    assert outcome.result.stored == PAIRS


def sizes(settings: Settings) -> tuple[int, int]:
    database = Path(settings.url.removeprefix("sqlite:///"))
    wal = database.with_name(database.name + "-wal")
    return database.stat().st_size, wal.stat().st_size if wal.exists() else 0


def test_the_commit_of_a_large_file_leaves_its_wal_to_the_thread(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: list[Checkpointer] = []
    monkeypatch.setattr(Checkpointer, "soon", lambda self: called.append(self))
    import_large(settings, db)
    assert called == [db.checkpoints]
    database, wal = sizes(settings)
    assert wal > 4 * 1024 * 1024 > database  # the pairs are in the WAL only
    monkeypatch.undo()
    assert db.checkpoints is not None
    db.checkpoints.soon()
    db.checkpoints.wait()
    assert db.checkpoints.taken == 1
    assert sizes(settings)[0] > 4 * 1024 * 1024  # copied into the database file


def test_the_thread_copies_it_and_the_connection_checkpoints_again_after(
    settings: Settings, db: Database
) -> None:
    import_large(settings, db)
    assert db.checkpoints is not None
    db.checkpoints.wait()
    assert db.checkpoints.taken == 1
    path = settings.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as other:  # nothing left to copy
        busy, frames, copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and frames == copied
    with db.transaction() as db_session:  # the pooled connection: SQLite's checkpoints again
        pooled = db_session.connection().exec_driver_sql("PRAGMA wal_autocheckpoint")
        assert pooled.scalar() == 1000


def test_a_failed_large_import_takes_no_checkpoint(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daemon.ingest.importers import qa

    def failing(*_: object) -> int:
        raise RuntimeError("an importer's bug")

    monkeypatch.setattr(qa, "_insert", failing)
    streaming = settings.model_copy(update={"stream_min_bytes": 1})
    outcome = Pipeline(streaming, db).process(large_export(settings))
    assert outcome.outcome == "failed"
    assert db.checkpoints is not None
    db.checkpoints.wait()
    assert db.checkpoints.taken == 0


# ``inboxd process`` as the console script runs it: at the atexit handlers, which threads are
# alive and how large the database file is; and whether the command left by ``SystemExit``, to
# the interpreter's teardown, which the console script skips (daemon/cli/app.py, ``main``): it
# ends by ``os._exit``. The checkpoint's thread is held until the command is done and a moment
# more, so it surely still runs then.
CONSOLE_PROBE = """
import atexit, json, os, sys, threading, time
from daemon.cli import exits
from daemon.store.checkpoint import Checkpointer
record, database, sys.argv = sys.argv[1], sys.argv[2], ["inboxd", *sys.argv[3:]]
command_done = threading.Event()
run_command, checkpoint = exits.run, Checkpointer._run

def run_then_let_the_checkpoint_go(*args, **kwargs):
    try:
        return run_command(*args, **kwargs)
    finally:
        command_done.set()

checkpoints = []

def checkpoint_once_the_command_is_done(self):
    command_done.wait()
    time.sleep(0.3)  # still running when the exit begins: it must be waited for
    checkpoint(self)
    checkpoints.append(self.path)

exits.run, Checkpointer._run = run_then_let_the_checkpoint_go, checkpoint_once_the_command_is_done

def at_exit():
    alive = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    state = {
        "alive": alive,
        "checkpoints": len(checkpoints),
        "database_bytes": os.path.getsize(database),
    }
    open(record, "w").write(json.dumps(state))

atexit.register(at_exit)
from daemon.console import main
try:
    main()
except SystemExit:  # Python's own exit, with its teardown
    open(record + ".normal-exit", "w").close()
    raise
"""


def test_the_command_line_waits_for_the_checkpoint_then_skips_the_teardown(
    settings: Settings, tmp_path: Path
) -> None:
    """The console script leaves by ``os._exit`` after a large import too: the checkpoint's
    thread is waited for first, so the WAL is in the database file when the process ends."""
    export = large_export(settings)
    record = tmp_path / "at-exit.json"
    database = settings.url.removeprefix("sqlite:///")
    command = ["process", "--root", str(settings.root_path), str(export)]
    done = console_probe(
        CONSOLE_PROBE,
        str(record),
        database,
        *command,
        cwd=tmp_path,
        env={"INBOXD_STREAM_MIN_BYTES": "1"},
    )
    assert done.code == 0, done.out + done.err
    assert f"stored {PAIRS}" in done.out
    state = json.loads(record.read_text())
    assert state["checkpoints"] == 1
    assert "inboxd-checkpoint" not in state["alive"]
    assert state["database_bytes"] > 4 * 1024 * 1024  # the WAL copied before the exit
    assert not Path(f"{record}.normal-exit").exists()  # no teardown: os._exit
