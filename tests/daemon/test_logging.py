"""Log lines: JSON with ts/level/event, one line per traceback, syslog prefix for journald only."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest

from daemon.logging import configure_logging, get_logger, is_journal_stream
from tests.support import SAMPLES, reset_logging, sample_files

INBOXD = Path(sys.prefix) / "bin" / "inboxd"
FILE_FIELDS = ("agent", "path", "kind", "outcome", "pairs", "ms")


@pytest.fixture(autouse=True)
def logging_reset_afterwards() -> Iterator[None]:
    yield
    reset_logging()


@pytest.fixture
def out(tmp_path: Path) -> Iterator[TextIO]:
    """A real file standing in for stdout, so it has a device and an inode."""
    with (tmp_path / "stdout.txt").open("w", encoding="utf-8") as stream:
        yield stream


def _identity(stream: TextIO) -> str:
    stat = os.fstat(stream.fileno())
    return f"{stat.st_dev}:{stat.st_ino}"


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _lines(path)]


def _log_one_of_each() -> None:
    log = get_logger("inboxd.test")
    log.debug("test.debug")
    log.info("file.imported", agent="droid", path="outbox/droid/a.json", pairs=3, ms=12)
    log.warning("file.waiting", path="outbox/droid/b.json")
    log.error("file.rejected", agent="droid", path="outbox/droid/c.json")
    logging.getLogger("alembic.runtime").info("a foreign %s message", "stdlib")


def test_every_file_log_line_is_json_with_ts_level_event(tmp_path: Path, out: TextIO) -> None:
    log_file = tmp_path / "var" / "log" / "inboxd.jsonl"
    configure_logging(log_file, level="debug", console=False, stream=out)
    _log_one_of_each()
    events = _events(log_file)
    assert [e["event"] for e in events] == [
        "test.debug",
        "file.imported",
        "file.waiting",
        "file.rejected",
        "a foreign stdlib message",
    ]
    assert [e["level"] for e in events] == ["debug", "info", "warning", "error", "info"]
    for event in events:
        assert list(event)[:3] == ["ts", "level", "event"]
        assert event["ts"].endswith("Z")
    assert events[1] | {"ts": None} == {
        "ts": None,
        "level": "info",
        "event": "file.imported",
        "agent": "droid",
        "path": "outbox/droid/a.json",
        "pairs": 3,
        "ms": 12,
    }


def test_a_logged_exception_is_one_line_with_frames_and_no_locals(
    tmp_path: Path, out: TextIO
) -> None:
    log_file = tmp_path / "inboxd.jsonl"
    configure_logging(log_file, console=False, stream=out)

    def connect(url: str) -> None:
        password = "hunter2-secret"  # a local a traceback must not carry
        raise ConnectionError(f"cannot reach the database ({len(password)} chars)")

    try:
        connect("postgresql://inboxd@db/inboxd")
    except ConnectionError:
        get_logger().exception("worker.error", path="outbox/droid/a.json")
    out.flush()
    for lines in (_lines(log_file), _lines(Path(out.name))):
        assert len(lines) == 1
        assert "hunter2" not in lines[0]
        assert "postgresql://" not in lines[0]
        event = json.loads(lines[0])
        assert event["event"] == "worker.error"
        assert event["level"] == "error"
        (exc,) = event["exception"]
        assert exc["exc_type"] == "ConnectionError"
        assert exc["exc_value"] == "cannot reach the database (14 chars)"
        assert [frame["name"] for frame in exc["frames"]][-1] == "connect"
        assert all("locals" not in frame for frame in exc["frames"])


def test_prefix_when_journal_stream_is_stdout(tmp_path: Path, out: TextIO) -> None:
    log_file = tmp_path / "inboxd.jsonl"
    configure_logging(
        log_file, level="debug", console=False, stream=out, journal_stream=_identity(out)
    )
    _log_one_of_each()
    get_logger().critical("process.crashed")
    out.flush()
    stdout = _lines(Path(out.name))
    assert [line[:4] for line in stdout] == ["<7>{", "<6>{", "<4>{", "<3>{", "<6>{", "<2>{"]
    assert [json.loads(line[3:])["event"] for line in stdout][:2] == ["test.debug", "file.imported"]
    assert all(line.startswith("{") for line in _lines(log_file))  # the file: never


@pytest.mark.parametrize("journal_stream", [None, "", "1:2", "not-a-pair", "1:2:3"])
def test_no_prefix_when_journal_stream_is_not_stdout(
    out: TextIO, journal_stream: str | None
) -> None:
    configure_logging(None, console=False, stream=out, journal_stream=journal_stream)
    get_logger().error("file.rejected")
    out.flush()
    (line,) = _lines(Path(out.name))
    assert json.loads(line)["event"] == "file.rejected"


def test_no_prefix_when_journal_stream_names_another_file(tmp_path: Path, out: TextIO) -> None:
    with (tmp_path / "other.txt").open("w") as other:
        configure_logging(None, console=False, stream=out, journal_stream=_identity(other))
    get_logger().error("file.rejected")
    out.flush()
    assert _lines(Path(out.name))[0].startswith("{")


def test_is_journal_stream_needs_a_real_file() -> None:
    import io

    assert not is_journal_stream(io.StringIO(), "1:2")


def test_file_log_is_rotated_by_size(tmp_path: Path, out: TextIO) -> None:
    log_file = tmp_path / "inboxd.jsonl"
    configure_logging(log_file, console=False, stream=out, max_bytes=2_000, backup_count=2)
    for n in range(100):
        get_logger().info("file.imported", n=n, path="outbox/droid/" + "x" * 40)
    files = [log_file, log_file.with_name("inboxd.jsonl.1"), log_file.with_name("inboxd.jsonl.2")]
    assert all(f.stat().st_size <= 2_000 for f in files)
    assert not log_file.with_name("inboxd.jsonl.3").exists()
    assert _events(files[0])[-1]["n"] == 99
    assert all(e["event"] == "file.imported" for f in files for e in _events(f))


def test_scan_writes_a_json_event_per_file_with_its_fields(root: Path) -> None:
    for rel in sample_files():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / rel, target)
    shutil.copyfile(SAMPLES / "bad" / "wrong_shape.json", root / "outbox/droid/wrong_shape.json")
    result = subprocess.run(
        [str(INBOXD), "scan", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    events = _events(root / "var" / "log" / "inboxd.jsonl")
    files = [e for e in events if e["event"].startswith("file.")]
    assert len(files) == len(sample_files()) + 1
    for event in events:
        assert {"ts", "level", "event"} <= event.keys()
    for event in files:
        assert set(FILE_FIELDS) <= event.keys(), event
    rejected = [e for e in files if e["outcome"] == "rejected"]
    assert [(e["level"], e["path"]) for e in rejected] == [
        ("error", "outbox/droid/wrong_shape.json")
    ]


def _init_with_journal(root: Path, stdout_path: Path, journal_path: Path) -> list[str]:
    """``inboxd init`` with stdout in one file and ``$JOURNAL_STREAM`` naming another (or it)."""
    with stdout_path.open("w") as stdout:
        stat = journal_path.stat()
        env = {**os.environ, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        subprocess.run(
            [str(INBOXD), "init", "--root", str(root)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            check=True,
        )
    return [line for line in stdout_path.read_text().splitlines() if "{" in line]


def test_the_cli_prefixes_stdout_only_when_it_is_the_journal(tmp_path: Path, root: Path) -> None:
    journal = tmp_path / "journal.txt"
    journal.touch()
    lines = _init_with_journal(root, journal, journal)
    assert lines and all(line.startswith("<6>{") for line in lines)
    fresh = tmp_path / "another-root"  # a fresh database: init logs its schema's creation
    fresh.mkdir()
    lines = _init_with_journal(fresh, tmp_path / "redirected.txt", journal)
    assert lines and all(line.startswith("{") for line in lines)


def test_an_uncaught_exception_is_one_json_event(tmp_path: Path) -> None:
    script = (
        "from daemon.logging import configure_logging\n"
        "configure_logging(None, console=False)\n"
        "secret = 'hunter2'\n"
        "raise RuntimeError('database gone')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 1
    assert result.stderr == ""
    (line,) = result.stdout.splitlines()
    event = json.loads(line)
    assert (event["level"], event["event"]) == ("critical", "process.crashed")
    assert event["exception"][0]["exc_value"] == "database gone"
    assert "hunter2" not in line
