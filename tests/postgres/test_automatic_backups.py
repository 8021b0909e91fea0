"""Issue 14, point 10 on PostgreSQL: backups are SQLite's (``inboxd backup`` says to use
pg_dump), so the automatic ones are skipped, and the log says so, while the import goes on."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.config import Settings
from daemon.ingest.pipeline import Pipeline
from daemon.store.engine import Database
from tests.support import deliver

EXPORT = "outbox/claude/database_qa_export_20251030_012343.json"


def test_an_export_on_postgresql_is_imported_and_the_skipped_backup_logged(
    settings: Settings, db: Database, json_logs: Path
) -> None:
    outcome = Pipeline(settings, db).process(deliver(settings.root_path, EXPORT))
    assert outcome.outcome == "imported"
    assert not settings.backup_dir.exists() or not any(settings.backup_dir.iterdir())
    events = [json.loads(line) for line in json_logs.read_text().splitlines()]
    [event] = [e for e in events if e["event"] == "backup.before_import"]
    assert event["backup"] is None
    assert "pg_dump" in event["skipped"]
