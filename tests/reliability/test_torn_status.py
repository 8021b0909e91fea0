"""Scenario 10: a torn status file (killed mid-write, or truncated or garbled by hand) is
repaired at start, rebuilt from the database."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from tests.reliability.probes import has_question, qa_document
from tests.support import wait_for

QUESTION = "Torn status: what is the Chaikin oscillator?"
GARBAGE = random.Random(10).randbytes(300) + b"\x00\xff\xfe"


def _torn(kind: str, original: bytes) -> bytes:
    return {
        "truncated": original[: len(original) // 2],  # killed or cut mid-write
        "garbage": GARBAGE,  # binary, NULs, invalid UTF-8
        "empty": b"",
    }[kind]


def _droid_inbox(settings: Settings) -> Path:
    return settings.root_path / "inbox/droid"


def _readable_status(inbox: Path) -> dict[str, Any]:
    try:
        value = json.loads((inbox / "status.json").read_bytes())
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _import_one_file(settings: Settings, db: Database, daemon: Daemon) -> None:
    (settings.root_path / "outbox/droid/chaikin_qa_pairs.json").write_bytes(qa_document(QUESTION))
    wait_for(lambda: has_question(db, QUESTION), timeout=5, what="the delivery")
    assert daemon.join(5)


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty"])
def test_torn_status_files_are_rewritten_from_the_database_at_start(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon], kind: str
) -> None:
    first = start_daemon()
    _import_one_file(settings, db, first)
    first.stop()
    inbox = _droid_inbox(settings)
    for name in ("status.json", "STATUS.md"):
        (inbox / name).write_bytes(_torn(kind, (inbox / name).read_bytes()))
    (inbox / ".status.json.99999.tmp").write_bytes(b'{"agent": "dro')  # a writer killed here

    start_daemon()
    status = json.loads((inbox / "status.json").read_bytes())
    assert status["agent"] == "droid"
    assert status["pairs"]["imported"] == 1
    assert status["recent_files"][0]["path"] == "outbox/droid/chaikin_qa_pairs.json"
    markdown = (inbox / "STATUS.md").read_bytes().decode("utf-8")
    assert markdown.startswith("# inboxd status: droid")
    assert "- imported: 1" in markdown


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty"])
def test_torn_status_files_are_written_at_first_start_on_an_empty_database(
    settings: Settings, start_daemon: Callable[..., Daemon], kind: str
) -> None:
    inbox = _droid_inbox(settings)
    for name in ("status.json", "STATUS.md"):
        (inbox / name).write_bytes(_torn(kind, b'{"agent": "droid", "pairs": {"imported": 7}}'))

    start_daemon()
    status = json.loads((inbox / "status.json").read_bytes())
    assert status["agent"] == "droid"
    assert status["pairs"]["imported"] == 0
    assert (inbox / "STATUS.md").read_bytes().decode("utf-8").startswith("# inboxd status: droid")


# were the worker to die, the test asserts it directly, not through pytest's warning
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("kind", ["garbage", "json-list"])
def test_status_torn_while_files_wait_for_a_locked_database_does_not_kill_the_worker(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon], kind: str
) -> None:
    """The waiting notice is merged into the current status files: a torn one must not stop
    the worker (it would take no file after that)."""
    daemon = start_daemon(db_busy_timeout=0.1, db_retry_seconds=0.3)
    inbox = _droid_inbox(settings)
    torn = GARBAGE if kind == "garbage" else b"[]"
    blocker = sqlite3.connect(settings.var_dir / "inboxd.db", timeout=5)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        for name in ("status.json", "STATUS.md"):
            (inbox / name).write_bytes(torn)
        (settings.root_path / "outbox/droid/chaikin_qa_pairs.json").write_bytes(
            qa_document(QUESTION)
        )
        wait_for(lambda: daemon.counts["waiting"] >= 1, timeout=5, what="the file to wait")
    finally:
        blocker.rollback()
        blocker.close()
    worker = daemon._worker
    assert worker is not None
    wait_for(
        lambda: has_question(db, QUESTION) or not worker.is_alive(),
        timeout=10,
        what="the file once the lock is gone",
    )
    assert worker.is_alive(), "the worker thread died"
    assert has_question(db, QUESTION)
    status = wait_for(
        lambda: (
            _readable_status(inbox).get("pairs", {}).get("imported") == 1
            and _readable_status(inbox)
        ),
        timeout=5,
        what="a status rebuilt in full",
    )
    assert status["agent"] == "droid" and "waiting" not in status
