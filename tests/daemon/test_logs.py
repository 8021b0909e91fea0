"""``inboxd logs``: filter, follow and render the JSON log file."""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon.cli import logview
from daemon.cli.app import EXIT_FATAL, EXIT_OK, cli
from daemon.cli.logview import LogFilter, parse_since
from daemon.errors import EXIT_USAGE
from daemon.store.engine import Database
from daemon.store.models import FileRecord
from tests.support import SAMPLES, sample_files

INBOXD = Path(sys.prefix) / "bin" / "inboxd"
BAD = sorted(path.name for path in (SAMPLES / "bad").glob("*.json"))


@pytest.fixture(autouse=True)
def drop_log_handlers() -> Iterator[None]:
    yield
    root_logger = logging.getLogger()  # `scan` logged to a captured stdout and the file
    for handler in list(root_logger.handlers):
        root_logger.removeHandler(handler)
        handler.close()


def _logs(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli("logs", "--root", str(root), *args)
    return code, capsys.readouterr().out


def _json_out(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def processed(root: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """droid's plan and session 2 (imported), the bad samples in droid's outbox and one in
    claude's (rejected), processed by ``inboxd scan``."""
    for rel in sample_files():
        if not rel.startswith(("inbox/droid/", "outbox/droid/session_02/")):
            continue
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / rel, target)
    for name in BAD:
        shutil.copyfile(SAMPLES / "bad" / name, root / "outbox" / "droid" / name)
    shutil.copyfile(SAMPLES / "bad" / "wrong_shape.json", root / "outbox/claude/wrong_shape.json")
    assert cli("scan", "--root", str(root)) == 3  # some file rejected
    capsys.readouterr()
    return root


def _rejected_in_ledger(root: Path, agent: str) -> set[str]:
    db = Database(f"sqlite:///{root / 'var' / 'inboxd.db'}")
    try:
        with db.reader() as db_session:
            return set(
                db_session.scalars(
                    select(FileRecord.rel_path).where(
                        FileRecord.agent == agent, FileRecord.outcome == "rejected"
                    )
                )
            )
    finally:
        db.dispose()


def test_agent_and_error_level_show_exactly_the_rejected_droid_files(
    processed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = {f"outbox/droid/{name}" for name in BAD}
    assert _rejected_in_ledger(processed, "droid") == expected

    code, out = _logs(capsys, processed, "--agent", "droid", "--level", "error")
    assert code == EXIT_OK
    lines = out.splitlines()
    assert len(lines) == len(BAD)
    assert {line.split(" path=")[1].split()[0] for line in lines} == expected
    assert all(" ERROR    file.rejected agent=droid " in line for line in lines)
    assert all("\x1b[" not in line for line in lines)  # not a terminal: no colour

    code, out = _logs(capsys, processed, "--agent", "droid", "--level", "error", "--json")
    events = _json_out(out)
    assert sorted(e["path"] for e in events) == sorted(expected)
    assert {(e["event"], e["agent"], e["outcome"]) for e in events} == {
        ("file.rejected", "droid", "rejected")
    }


def test_level_is_a_minimum(processed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = _logs(capsys, processed, "--agent", "droid", "--level", "info", "--json")
    levels = {e["level"] for e in _json_out(out)}
    assert levels == {"info", "error"}
    _, out = _logs(capsys, processed, "--level", "warn", "--json")
    assert {e["level"] for e in _json_out(out)} == {"error"}


def test_event_takes_a_name_a_prefix_or_a_glob(
    processed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, exact = _logs(capsys, processed, "--event", "file.rejected", "--json")
    assert {e["path"] for e in _json_out(exact)} == {
        *(f"outbox/droid/{name}" for name in BAD),
        "outbox/claude/wrong_shape.json",
    }
    _, prefix = _logs(capsys, processed, "--event", "file", "--json")
    assert {e["event"] for e in _json_out(prefix)} >= {"file.rejected", "file.imported"}
    assert all(e["event"].startswith("file.") for e in _json_out(prefix))
    _, glob = _logs(capsys, processed, "--event", "file.imp*", "--json")
    assert {e["event"] for e in _json_out(glob)} == {"file.imported"}


def _write_log(path: Path, *events: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as stream:
        for event in events:
            stream.write(json.dumps(event) + "\n")


def _event(name: str, ago: timedelta, **fields: Any) -> dict[str, Any]:
    ts = (datetime.now(UTC) - ago).isoformat().replace("+00:00", "Z")
    return {"ts": ts, "level": "info", "event": name, **fields}


def test_since_takes_spans_and_times(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = root / "var" / "log" / "inboxd.jsonl"
    _write_log(
        log_file,
        _event("old", timedelta(hours=3)),
        _event("recent", timedelta(minutes=5)),
        {"level": "info", "event": "no time"},
    )
    log_file.with_name("x").write_text("")
    _, out = _logs(capsys, root, "--since", "1h", "--json")
    assert [e["event"] for e in _json_out(out)] == ["recent"]
    iso = (datetime.now(UTC) - timedelta(hours=4)).isoformat()
    _, out = _logs(capsys, root, "--since", iso, "--json")
    assert [e["event"] for e in _json_out(out)] == ["old", "recent"]
    _, out = _logs(capsys, root, "--json")
    assert len(_json_out(out)) == 3


def test_since_reaches_into_rotated_files_only_as_far_as_needed(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = root / "var" / "log" / "inboxd.jsonl"
    older, old = log_file.with_name("inboxd.jsonl.2"), log_file.with_name("inboxd.jsonl.1")
    _write_log(older, _event("days ago", timedelta(days=3)))
    _write_log(old, _event("an hour ago", timedelta(hours=1)))
    _write_log(log_file, _event("now", timedelta(0)))
    three_days = (datetime.now() - timedelta(days=3)).timestamp()
    os.utime(older, (three_days, three_days))
    _, out = _logs(capsys, root, "--since", "2h", "--json")
    assert [e["event"] for e in _json_out(out)] == ["an hour ago", "now"]
    assert logview.log_files(log_file, parse_since("2h")) == [old, log_file]
    _, out = _logs(capsys, root, "--json")  # without --since: the current file only
    assert [e["event"] for e in _json_out(out)] == ["now"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10m", 600),
        ("2h", 7200),
        ("90s", 90),
        ("1d12h", 129600),
        ("1w", 604800),
        ("1.5h", 5400),
    ],
)
def test_relative_since(text: str, seconds: int) -> None:
    now = datetime(2025, 11, 2, 14, 0, tzinfo=UTC)
    assert parse_since(text, now) == now - timedelta(seconds=seconds)


def test_iso_since_with_and_without_a_zone() -> None:
    assert parse_since("2025-11-02T14:00:00Z") == datetime(2025, 11, 2, 14, tzinfo=UTC)
    assert parse_since("2025-11-02T15:00:00+01:00") == datetime(2025, 11, 2, 14, tzinfo=UTC)
    local = datetime(2025, 11, 2, 14, 0).astimezone()
    assert parse_since("2025-11-02T14:00") == local


def test_bad_arguments_are_refused_with_a_reason(
    processed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("logs", "--root", str(processed), "--since", "yesterday") == EXIT_USAGE
    assert "give a time like" in capsys.readouterr().err
    assert cli("logs", "--root", str(processed), "--level", "loud") == EXIT_USAGE
    assert "unknown level 'loud'" in capsys.readouterr().err


def test_no_log_file_says_so(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("logs", "--root", str(root)) == EXIT_FATAL
    assert "no log file at" in capsys.readouterr().err


def test_lines_keeps_the_last_matching_events(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = root / "var" / "log" / "inboxd.jsonl"
    _write_log(log_file, *(_event(f"e{n}", timedelta(0), agent="droid") for n in range(20)))
    _write_log(log_file, _event("other", timedelta(0), agent="claude"))
    _, out = _logs(capsys, root, "--agent", "droid", "-n", "3", "--json")
    assert [e["event"] for e in _json_out(out)] == ["e17", "e18", "e19"]


def test_colour_on_a_terminal_and_markup_is_never_interpreted() -> None:
    event = {
        "ts": "2025-11-02T14:00:00Z",
        "level": "error",
        "event": "file.rejected",
        "path": "outbox/droid/[bold]x[/bold].json",
    }
    coloured, plain = io.StringIO(), io.StringIO()
    logview.make_printer(coloured, colour=True)(event)
    logview.make_printer(plain, colour=False)(event)
    assert "\x1b[" in coloured.getvalue()
    assert "[bold]x[/bold]" in coloured.getvalue()
    assert "\x1b[" not in plain.getvalue()
    assert plain.getvalue().endswith(
        " ERROR    file.rejected path=outbox/droid/[bold]x[/bold].json\n"
    )


def test_an_exception_is_summarised_on_the_line() -> None:
    event = {
        "ts": "2025-11-02T14:00:00Z",
        "level": "error",
        "event": "worker.error",
        "exception": [
            {
                "exc_type": "OSError",
                "exc_value": "disk full",
                "frames": [{"filename": "daemon/x.py", "lineno": 3, "name": "f"}],
            }
        ],
    }
    assert logview.plain_line(event).endswith(
        'worker.error exception="OSError: disk full (daemon/x.py:3 in f)"'
    )


# -- following ----------------------------------------------------------------------------
class Follower:
    """``logview.follow`` on a thread, its events in a queue."""

    def __init__(self, log_file: Path, log_filter: LogFilter, start: int | None = None) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(log_file, log_filter, start))
        self.thread.start()

    def _run(self, log_file: Path, log_filter: LogFilter, start: int | None) -> None:
        for event in logview.follow(
            log_file, log_filter, self.stop, start=start, poll_seconds=0.02
        ):
            self.events.put(event)

    def next_event(self, timeout: float = 10.0) -> dict[str, Any]:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def test_follow_sees_appended_lines_whole_and_survives_rotation(tmp_path: Path) -> None:
    log_file = tmp_path / "inboxd.jsonl"
    _write_log(log_file, _event("before", timedelta(0), agent="droid"))
    follower = Follower(log_file, LogFilter(agent="droid"), start=log_file.stat().st_size)
    try:
        with log_file.open("a") as stream:  # a line in two writes: taken once, whole
            stream.write('{"event": "file.rejected", "agent": "dr')
            stream.flush()
            stream.write('oid", "path": "a.json"}\n')
        _write_log(log_file, _event("someone else", timedelta(0), agent="claude"))
        _write_log(log_file, _event("second", timedelta(0), agent="droid"))
        assert follower.next_event()["path"] == "a.json"
        assert follower.next_event()["event"] == "second"
        log_file.rename(log_file.with_name("inboxd.jsonl.1"))  # as RotatingFileHandler does
        _write_log(log_file, _event("after rotation", timedelta(0), agent="droid"))
        assert follower.next_event()["event"] == "after rotation"
        # Truncated in place, then shorter than what was read: read again from the start.
        # (RotatingFileHandler never truncates; this is a person's `: > inboxd.jsonl`.)
        log_file.write_text('{"event": "cut", "agent": "droid"}\n')
        assert follower.next_event()["event"] == "cut"
    finally:
        follower.close()
    assert follower.events.empty()


def test_follow_waits_for_a_log_file_not_created_yet(tmp_path: Path) -> None:
    log_file = tmp_path / "log" / "inboxd.jsonl"
    follower = Follower(log_file, LogFilter(), start=0)
    try:
        _write_log(log_file, _event("first", timedelta(0)))
        assert follower.next_event()["event"] == "first"
    finally:
        follower.close()


def test_logs_follow_prints_history_then_new_events_until_interrupted(processed: Path) -> None:
    log_file = processed / "var" / "log" / "inboxd.jsonl"
    command = [
        str(INBOXD),
        "logs",
        "-f",
        "--root",
        str(processed),
        "--agent",
        "droid",
        "--level",
        "error",
        "--json",
    ]
    lines: queue.Queue[str] = queue.Queue()
    # a child inherits an ignored SIGINT (this run started in the background of a shell
    # script, say), not a handler: it would never be interrupted
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    with process:
        assert process.stdout is not None and process.stderr is not None
        out = process.stdout

        def forward() -> None:
            for line in out:
                lines.put(line)

        reader = threading.Thread(target=forward)
        reader.start()
        try:
            history = [json.loads(lines.get(timeout=30)) for _ in BAD]
            assert sorted(e["path"] for e in history) == [f"outbox/droid/{name}" for name in BAD]
            other = _event("file.rejected", timedelta(0), agent="claude")
            late = _event(
                "file.rejected", timedelta(0), agent="droid", path="outbox/droid/late.json"
            )
            _write_log(log_file, other | {"level": "error"}, late | {"level": "error"})
            assert json.loads(lines.get(timeout=30))["path"] == "outbox/droid/late.json"
        finally:
            process.send_signal(signal.SIGINT)
            try:
                code = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()  # or leaving the with block waits for it for ever
                raise
            reader.join(10)
        errors = process.stderr.read()
    assert code == EXIT_OK, errors
    assert lines.empty()
