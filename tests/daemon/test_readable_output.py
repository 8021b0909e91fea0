"""Issue 14, point 9: names are data, the terminal and the log say what happened, no noise.

A file name may hold a newline, ``|``, backticks or control characters: STATUS.md keeps one
table row per file and the terminal shows the characters visibly. ``inboxd init`` prints no
alembic chatter; ``inboxd --help`` shows no ``<bool>``; a batch close logs its backup, gap
report and hand-off as events.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Settings
from daemon.ingest.pipeline import Pipeline
from daemon.status.writer import StatusWriter
from daemon.store.engine import Database
from tests.support import Run, deliver, sample_files

INBOXD = Path(sys.executable).parent / "inboxd"
HOSTILE = "bad\n|`name`|\x1b[31m.json"  # a newline, pipes, backticks and an escape code
SIGNAL = "outbox/droid/ALL_SESSIONS_COMPLETE.txt"


def _hostile_delivery(root: Path) -> Path:
    path = root / "outbox" / "droid" / HOSTILE
    path.write_text('{"not": "pairs"}')  # rejected, and the reason starts with the name
    return path


def _table_rows(markdown: str, header: str) -> list[str]:
    """The lines of the table that starts with ``header``, up to the blank line after it."""
    lines = markdown.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line:
            break
        rows.append(line)
    return rows


def _cells(row: str) -> int:
    """Table cells as a Markdown renderer splits them: on every ``|`` not escaped."""
    escaped = False
    pipes = 0
    for char in row:
        if char == "|" and not escaped:
            pipes += 1
        escaped = char == "\\" and not escaped
    return pipes - 1


def test_a_hostile_file_name_is_one_row_of_status_md(settings: Settings, db: Database) -> None:
    pipeline = Pipeline(settings, db, on_status=StatusWriter(settings, db).write)
    outcome = pipeline.process(_hostile_delivery(settings.root_path))
    assert outcome.outcome == "rejected" and outcome.reason and HOSTILE in outcome.reason
    markdown = (settings.root_path / "inbox" / "droid" / "STATUS.md").read_text()
    rows = _table_rows(markdown, "| file | kind | outcome | stored | dup | at |")
    assert len(rows) == 1, f"the file's row is split or lost: {rows!r}"
    assert _cells(rows[0]) == 6, f"the name breaks the table's cells: {rows[0]!r}"
    assert "\x1b" not in markdown, "an escape code reaches STATUS.md raw"
    rejected = markdown.split("## Rejected files\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(rejected) == 1, f"the rejection's line is split: {rejected!r}"
    assert "bad\\n" in rows[0] and "\\`name\\`" in rows[0], rows[0]


def test_process_shows_control_characters_visibly(run: Run, root: Path) -> None:
    path = _hostile_delivery(root)
    code, out = run("process", str(path))
    assert code == 3
    assert "\x1b" not in out, "an escape code reaches the terminal raw"
    first = out.splitlines()[0]
    assert first.startswith("rejected") and "bad\\n|`name`|" in first, out


def test_init_prints_no_alembic_lines(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(INBOXD), "init", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    noise = [
        line for line in output.splitlines() if "setup plugin" in line or "Context impl" in line
    ]
    assert not noise, f"alembic talks on `inboxd init`: {noise}"
    assert "schema: none -> " in output


def test_init_with_debug_shows_alembic_lines(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(INBOXD), "--debug", "init", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Context impl" in done.stdout + done.stderr


@pytest.mark.parametrize("command", [[], ["run"], ["status"], ["logs"]])
def test_help_shows_no_bool_after_flags(command: list[str]) -> None:
    done = subprocess.run(
        [str(INBOXD), *command, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "--help" in done.stdout
    assert "<bool>" not in done.stdout, done.stdout


def _events(log_file: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_file.read_text().splitlines()]


def test_a_batch_close_logs_its_backup_gap_report_and_handoff(
    settings: Settings, db: Database, json_logs: Path
) -> None:
    pipeline = Pipeline(settings, db)
    for rel in sample_files(exclude=(SIGNAL,)):
        pipeline.process(deliver(settings.root_path, rel))
    assert pipeline.process(deliver(settings.root_path, SIGNAL)).outcome == "imported"
    by_name = {e["event"]: e for e in _events(json_logs)}
    missing = {"batch.backup", "batch.gap_report", "batch.handoff"} - set(by_name)
    assert not missing, f"not logged: {sorted(missing)}"
    backup, report, handoff = (
        by_name["batch.backup"],
        by_name["batch.gap_report"],
        by_name["batch.handoff"],
    )
    assert backup["agent"] == "droid" and backup["batch"] == 1
    assert (settings.root_path / backup["backup"]).is_file()
    assert (settings.root_path / report["path"]).is_file()
    assert handoff["pairs"] == 18 and handoff["files"] == 1
    assert handoff["refiner"] == "gemini"


def test_logs_show_control_characters_in_names_visibly(run: Run, root: Path) -> None:
    log_file = root / "var" / "log" / "inboxd.jsonl"
    log_file.parent.mkdir(parents=True)
    event = {
        "ts": "2026-01-01T00:00:00Z",
        "level": "error",
        "event": "file.rejected",
        "path": "outbox/droid/a\x1b[2Jb\u202egnp.json",
    }
    log_file.write_text(json.dumps(event) + "\n")
    code, out = run("logs")
    assert code == 0
    assert "\x1b" not in out and "\u202e" not in out, f"raw control characters: {out!r}"
    assert "\\u001b[2Jb\\u202egnp.json" in out, out
