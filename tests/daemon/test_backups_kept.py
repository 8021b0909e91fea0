"""Issue 14, point 10: backups the users' own plan asks for.

A backup before a whole-database export is imported and before ``retry --rejected``; only
the newest ``backup_keep`` kept; ``inboxd backup --list`` shows them.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from daemon.config import Settings
from daemon.ingest.pipeline import Pipeline
from daemon.store.engine import Database
from tests.support import SAMPLES, Run, deliver

EXPORT = "outbox/claude/database_qa_export_20251030_012343.json"
SMA = "outbox/droid/session_02/sma_qa_pairs.json"
BAD = "bad/no_answers_qa_pairs.json"


def _backups(settings: Settings) -> list[Path]:
    return sorted(settings.backup_dir.glob("inboxd-*.db"))


def _pairs_in(backup: Path) -> int:
    with sqlite3.connect(backup) as copy:
        count: int = copy.execute("SELECT count(*) FROM qa_pairs").fetchone()[0]
    return count


def _events(log_file: Path, name: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    return [e for e in events if e["event"] == name]


def _export_copy(settings: Settings, n: int) -> Path:
    """The sample export under another name: a new file to the ledger, the same pairs."""
    target = settings.root_path / f"outbox/claude/database_qa_export_copy{n}.json"
    shutil.copyfile(SAMPLES / EXPORT, target)
    return target


def test_an_export_is_backed_up_before_it_is_imported(
    settings: Settings, db: Database, json_logs: Path
) -> None:
    pipeline = Pipeline(settings, db)
    before = pipeline.process(deliver(settings.root_path, SMA))
    assert before.outcome == "imported" and before.result.stored > 0
    assert _backups(settings) == [], "an ordinary delivery takes no backup"
    assert pipeline.process(deliver(settings.root_path, EXPORT)).outcome == "imported"
    backups = _backups(settings)
    assert len(backups) == 1, "no backup was taken before the export was imported"
    assert _pairs_in(backups[0]) == before.result.stored, "not the database as it was before"
    [event] = _events(json_logs, "backup.before_import")
    assert event["kind"] == "export" and event["path"] == EXPORT
    assert settings.root_path / event["backup"] == backups[0]
    pipeline.process(settings.root_path / EXPORT)  # unchanged: nothing imported, no backup
    pipeline.process(_export_copy(settings, 1), dry_run=True)
    assert len(_backups(settings)) == 1, "an unchanged file or a dry run took a backup"


def test_retry_rejected_takes_a_backup_first(run: Run, root: Path) -> None:
    deliver(root, BAD, "outbox/droid/session_02/no_answers_qa_pairs.json")
    assert run("scan")[0] == 3
    settings = Settings(root=root)
    assert _backups(settings) == []
    code, out = run("retry", "--rejected")
    assert code == 3, out
    assert len(_backups(settings)) == 1, "retry --rejected ran without a backup"


def test_backups_are_pruned_to_backup_keep(settings: Settings, db: Database) -> None:
    settings = settings.model_copy(update={"backup_keep": 2})
    pipeline = Pipeline(settings, db)
    taken = []
    for n in range(4):
        assert pipeline.process(_export_copy(settings, n)).outcome == "imported"
        taken.append(_backups(settings)[-1])
    assert _backups(settings) == taken[-2:], "not the newest backup_keep backups kept"


def test_backup_keep_must_be_at_least_one(root: Path) -> None:
    with pytest.raises(ValidationError):
        Settings(root=root, backup_keep=0)
    assert Settings(root=root).backup_keep == 10


def test_backup_list_shows_name_size_and_time(run: Run, root: Path) -> None:
    assert run("init")[0] == 0
    code, out = run("backup", "--list")
    assert code == 0 and "no backups" in out
    for _ in range(2):
        assert run("backup")[0] == 0
    code, out = run("backup", "--list")
    assert code == 0, out
    backups = _backups(Settings(root=root))
    lines = out.splitlines()
    assert len(backups) == 2 and len(lines) == 3, out  # a header, then one line a backup
    for backup, line in zip(backups, lines[1:], strict=True):
        assert line.startswith(backup.name), line
        assert str(backup.stat().st_size) in line, line
        assert " UTC" in line, line
