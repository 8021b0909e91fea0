"""``inboxd run --http`` and ``inboxd serve`` as a person runs them: the console script in a
process of its own, its output in a file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.cli.app import EXIT_OK
from daemon.errors import EXIT_USAGE
from tests.support import INBOXD, assert_one_error_line, console, deliver, wait_for
from tests.web.conftest import http_get

TOKEN = "a-token-long-enough-1234"


def _env(**more: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INBOXD_")}
    return {**base, **more}


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes started by a test; any still running at the end is stopped."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _start(
    launched: list[subprocess.Popen[bytes]], out: Path, *args: str, cwd: Path
) -> subprocess.Popen[bytes]:
    if not INBOXD.exists():
        pytest.skip("the inboxd console script is not installed beside this interpreter")
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [str(INBOXD), *args], stdout=sink, stderr=subprocess.STDOUT, cwd=cwd, env=_env()
        )
    launched.append(process)
    return process


def _listening_url(log_file: Path) -> str | None:
    """The address a dashboard logged (``web.listening``: port 0 is chosen by the system)."""
    if not log_file.exists():
        return None
    for line in log_file.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "web.listening":
            return str(event["url"])
    return None


@pytest.mark.parametrize("command", ["run", "serve"])
def test_another_address_without_a_token_is_refused_in_one_line(command: str, root: Path) -> None:
    done = console(command, "--root", str(root), "--http", "0.0.0.0:8377", cwd=root)
    assert_one_error_line(done, EXIT_USAGE, "refusing to listen on 0.0.0.0:8377 without a token")
    assert not (root / "var" / "inboxd.db").exists()  # refused before anything started


def test_a_bad_address_or_token_is_one_line(root: Path) -> None:
    done = console("run", "--root", str(root), "--http", "127.0.0.1:port", cwd=root)
    assert_one_error_line(done, EXIT_USAGE, "the port must be a number")
    short = console("run", "--root", str(root), cwd=root, env={"INBOXD_HTTP_TOKEN": "abc"})
    assert_one_error_line(short, EXIT_USAGE, "INBOXD_HTTP_TOKEN=(hidden): too short")
    assert "abc" not in short.err.replace("(hidden)", "")


def test_run_with_http_serves_the_page_beside_the_daemon(
    root: Path, launched: list[subprocess.Popen[bytes]]
) -> None:
    process = _start(
        launched, root / "run.out", "run", "--root", str(root), "--http", "127.0.0.1:0", cwd=root
    )
    log_file = root / "var" / "log" / "inboxd.jsonl"
    url = wait_for(lambda: _listening_url(log_file), timeout=60, what="web.listening")
    wait_for(lambda: http_get(url + "readyz").status == 200, timeout=60, what="ready")
    deliver(root, "outbox/droid/session_02/ema_qa_pairs.json")

    def pairs() -> int:
        return int(json.loads(http_get(url + "api/status").body)["pairs"])

    wait_for(lambda: pairs() == 3, timeout=30, what="the file's pairs in /api/status")
    metrics = http_get(url + "metrics").text
    assert "inboxd_queue_depth 0.0" in metrics
    assert "inboxd_import_duration_seconds_count 1.0" in metrics
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == EXIT_OK, (root / "run.out").read_text()[-3000:]


def test_serve_shows_a_database_alone_and_stops_on_sigterm(
    root: Path, launched: list[subprocess.Popen[bytes]]
) -> None:
    deliver(root, "outbox/droid/session_02/ema_qa_pairs.json")
    assert console("scan", "--root", str(root), cwd=root).code == EXIT_OK
    out = root / "serve.out"
    process = _start(launched, out, "serve", "--root", str(root), "--http", "127.0.0.1:0", cwd=root)
    url = wait_for(lambda: _listening_url(root / "var" / "log" / "inboxd.jsonl"), timeout=60)
    files = json.loads(http_get(url + "api/files").body)["files"]
    assert [f["path"] for f in files] == ["outbox/droid/session_02/ema_qa_pairs.json"]
    metrics = http_get(url + "metrics").text
    assert "inboxd_pairs_stored 3.0" in metrics
    assert "inboxd_queue_depth" not in metrics  # no daemon here: no queue to show
    assert f"dashboard: {url}" in out.read_text()
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == EXIT_OK, out.read_text()[-3000:]


def test_serve_needs_a_database(root: Path) -> None:
    done = console("serve", "--root", str(root), "--http", "127.0.0.1:0", cwd=root)
    assert_one_error_line(done, EXIT_USAGE, "no database at")
