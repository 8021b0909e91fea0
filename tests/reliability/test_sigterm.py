"""Scenario 12: SIGTERM during a large import finishes that file and exits 0; a second
SIGTERM exits at once and leaves no partial rows."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bench.datagen import export_document, write_json
from daemon.config import Settings
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow
from tests.reliability.daemon_process import DaemonProcess
from tests.support import wait_for

PAIRS = 12_188
EXPORT = "outbox/claude/database_qa_export_big.json"


@pytest.fixture
def big_export_document() -> dict[str, Any]:
    return export_document()


@pytest.fixture
def process(settings: Settings) -> Iterator[DaemonProcess]:
    started = DaemonProcess(settings.root_path)
    yield started
    started.kill()


def _stored(settings: Settings) -> tuple[int, int]:
    db = Database(settings.url)
    try:
        with db.reader() as db_session:
            return (
                db_session.scalar(select(func.count()).select_from(QAPairRow)) or 0,
                db_session.scalar(select(func.count()).select_from(FileRecord)) or 0,
            )
    finally:
        db.dispose()


def _import_started(settings: Settings) -> bool:
    """The archive copy is written just before the import transaction begins."""
    return any(settings.archive_dir.rglob("*.json"))


def test_first_sigterm_finishes_the_file_in_hand_and_exits_0(
    settings: Settings, process: DaemonProcess, big_export_document: dict[str, Any]
) -> None:
    process.wait_ready()
    write_json(settings.root_path / EXPORT, big_export_document)
    wait_for(lambda: _import_started(settings), 60, "the import to begin")
    process.signal(signal.SIGTERM)
    assert process.wait_exit(120) == 0
    assert _stored(settings) == (PAIRS, 1)
    stopped = [e for e in process.events() if e["event"] == "daemon.stopped"]
    assert stopped and stopped[0]["imported"] == 1


def test_second_sigterm_exits_at_once_without_partial_rows(
    settings: Settings, process: DaemonProcess, big_export_document: dict[str, Any]
) -> None:
    process.wait_ready()
    write_json(settings.root_path / EXPORT, big_export_document)
    wait_for(lambda: _import_started(settings), 60, "the import to begin")
    process.signal(signal.SIGTERM)
    wait_for(lambda: process.saw("daemon.stopping"), 10, "the first SIGTERM to be taken")
    sent = time.monotonic()
    process.signal(signal.SIGTERM)
    code = process.wait_exit(30)
    elapsed = time.monotonic() - sent
    pairs, files = _stored(settings)
    assert code == 143, "a cold stop exits with 128 + SIGTERM"
    assert (pairs, files) in ((0, 0), (PAIRS, 1)), "all of the file or none of it"
    # "at once": well before the warm stop could have finished the import
    assert elapsed < 5, f"cold stop took {elapsed:.1f}s"
