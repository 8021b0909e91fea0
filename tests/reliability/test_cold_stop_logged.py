"""Issue 14, point 9: a cold stop (a second SIGTERM) is logged as ``daemon.stopped`` with
``cold: true``, so the log says how the daemon ended."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from bench.datagen import export_document, write_json
from daemon.config import Settings
from tests.reliability.daemon_process import DaemonProcess
from tests.support import wait_for

EXPORT = "outbox/claude/database_qa_export_big.json"


@pytest.fixture
def process(settings: Settings) -> Iterator[DaemonProcess]:
    started = DaemonProcess(settings.root_path)
    yield started
    started.kill()


def test_a_cold_stop_logs_daemon_stopped_cold(settings: Settings, process: DaemonProcess) -> None:
    process.wait_ready()
    write_json(settings.root_path / EXPORT, export_document())
    wait_for(lambda: any(settings.archive_dir.rglob("*.json")), 60, "the import to begin")
    process.signal(signal.SIGTERM)
    wait_for(lambda: process.saw("daemon.stopping"), 10, "the first SIGTERM to be taken")
    process.signal(signal.SIGTERM)
    assert process.wait_exit(30) == 143
    stopped = [e for e in process.events() if e["event"] == "daemon.stopped"]
    assert stopped, "a cold stop leaves no daemon.stopped in the log"
    assert stopped[-1]["cold"] is True
    assert "queued" in stopped[-1]
    in_file = [e for e in settings.log_file.read_text().splitlines() if "daemon.stopped" in e]
    assert in_file and '"cold":true' in in_file[-1], "the log file misses the cold stop"
