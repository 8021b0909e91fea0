"""Status writes failing while the database is away: the first failure is logged with its
traceback, each later one as one short line, the recovery once; the status then catches up."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.logging import configure_logging
from daemon.status.writer import StatusWriter
from tests.support import deliver, read_status, reset_logging, wait_for

FILE = "outbox/droid/session_02/sma_qa_pairs.json"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "log" / "inboxd.jsonl"
    with (tmp_path / "stdout.txt").open("w", encoding="utf-8") as stdout:
        configure_logging(path, console=False, stream=stdout)
        yield path
        reset_logging()


def _events(log_file: Path, name: str) -> list[dict[str, Any]]:
    lines = log_file.read_text(encoding="utf-8").splitlines() if log_file.exists() else []
    return [event for event in map(json.loads, lines) if event["event"] == name]


def test_a_run_of_failed_status_writes_logs_one_traceback_then_short_lines(
    settings: Settings,
    start_daemon: Callable[..., Daemon],
    log_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    away = threading.Event()  # set once the daemon is up: it starts with the database there
    real_write = StatusWriter.write

    def write_unless_away(self: StatusWriter, *args: Any, **kwargs: Any) -> Any:
        if away.is_set():
            raise OperationalError(
                "SELECT count(*) FROM files",
                {},
                ConnectionError(
                    "server closed the connection unexpectedly\n\tThis probably means ..."
                ),
            )
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(StatusWriter, "write", write_unless_away)
    start_daemon(status_interval=0.05)
    away.set()
    deliver(settings.root_path, FILE)
    wait_for(
        lambda: len(_events(log_file, "status.write_failed")) >= 3, 20, "three failed status writes"
    )
    away.clear()
    wait_for(
        lambda: read_status(settings.root_path, "droid").get("pairs", {}).get("imported") == 4,
        20,
        "the status after the outage",
    )

    first, *later = _events(log_file, "status.write_failed")
    assert first["level"] == "error"
    assert first["exception"][0]["exc_type"] == "OperationalError"
    assert later and all(
        event["level"] == "warning" and "exception" not in event for event in later
    )
    assert later[0]["error"].startswith(
        "OperationalError: (builtins.ConnectionError) server closed the connection unexpectedly"
    )
    assert "\n" not in later[0]["error"]
    assert later[-1]["failing_for_s"] >= later[0]["failing_for_s"] >= 0
    # logged just after the status file is written: waited for, not assumed
    (recovered,) = wait_for(
        lambda: _events(log_file, "status.write_recovered"), 10, "the recovery in the log"
    )
    assert recovered["failed_for_s"] >= later[-1]["failing_for_s"]
