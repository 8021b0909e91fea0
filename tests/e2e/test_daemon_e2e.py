"""The daemon end to end: the real watchdog observer on a temporary root, on each engine
(a real SQLite file, a fresh PostgreSQL database; see conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow
from tests.support import SAMPLES, deliver, read_json_object, sample_files, wait_for

EXPORT = "outbox/claude/database_qa_export_20251030_012343.json"
REFINEMENT = "outbox/gemini/refinement_0001.jsonl"


def _status(root: Path, agent: str) -> dict[str, Any]:
    path = root / "inbox" / agent / "status.json"
    return read_json_object(path) if path.exists() else {}


def _pairs(settings: Settings) -> int:
    db = Database(settings.url)
    try:
        with db.reader() as db_session:
            return db_session.scalar(select(func.count()).select_from(QAPairRow)) or 0
    finally:
        db.dispose()


def _ledger(settings: Settings) -> list[tuple[str, str]]:
    db = Database(settings.url)
    try:
        with db.reader() as db_session:
            rows = db_session.execute(
                select(FileRecord.rel_path, FileRecord.outcome).order_by(FileRecord.id)
            ).all()
            return [(path, outcome) for path, outcome in rows]
    finally:
        db.dispose()


def test_file_copied_into_outbox_is_imported_and_status_written(
    settings: Settings, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    shutil.copyfile(
        SAMPLES / "outbox/droid/session_02/ema_qa_pairs.json",
        settings.root_path / "outbox/droid/ema_qa_pairs.json",
    )
    status = wait_for(
        lambda: (
            _status(settings.root_path, "droid").get("pairs", {}).get("imported") == 3
            and _status(settings.root_path, "droid")
        ),
        timeout=5,
        what="droid's status to show 3 imported pairs",
    )
    assert status["recent_files"][0]["path"] == "outbox/droid/ema_qa_pairs.json"
    assert (
        (settings.root_path / "inbox/droid/STATUS.md")
        .read_text()
        .startswith("# inboxd status: droid")
    )
    assert daemon.join(5)
    assert daemon.counts["imported"] == 1


def test_sample_tree_delivered_live_gives_sixteen_pairs_and_every_outcome(
    settings: Settings, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    files = sample_files(exclude=(EXPORT, REFINEMENT))
    signal = "outbox/droid/ALL_SESSIONS_COMPLETE.txt"
    for rel in [f for f in files if f != signal]:
        deliver(settings.root_path, rel)
    wait_for(lambda: len(_ledger(settings)) == len(files) - 1, what="every delivery in the ledger")
    deliver(settings.root_path, signal)
    wait_for(lambda: len(_ledger(settings)) == len(files), what="the signal in the ledger")
    assert daemon.join(10)
    assert _pairs(settings) == 16
    assert {outcome for _, outcome in _ledger(settings)} == {"imported"}
    droid = _status(settings.root_path, "droid")
    assert droid["sessions"]["missing"] == [3]
    assert droid["sessions"]["missing_indicators"] == {"2": ["ADX"]}
    assert droid["progress"]["claim"]["sessions_complete"] == 2
    assert droid["progress"]["claim"]["sessions_total"] == 43
    assert droid["signal"]["state"] == "closed"
    assert droid["pairs"] == {
        "imported": 16,
        "duplicates_skipped": 1,
        "invalid_skipped": 0,
        "filtered": 1,
        "near_duplicates": 0,
    }
    claude = _status(settings.root_path, "claude")
    assert claude["database"]["pairs"] == 16


def test_bad_files_show_their_reason_in_status_and_log_and_daemon_goes_on(
    settings: Settings, start_daemon: Callable[..., Daemon], json_logs: Path
) -> None:
    start_daemon()
    bad = ["truncated_qa_pairs.json", "no_answers_qa_pairs.json", "wrong_shape.json"]
    for name in bad:
        deliver(settings.root_path, f"bad/{name}", f"outbox/droid/{name}")
    wait_for(
        lambda: len(_status(settings.root_path, "droid").get("rejected", [])) == 3,
        what="three rejected files in droid's status",
    )
    reasons = {r["path"]: r["reason"] for r in _status(settings.root_path, "droid")["rejected"]}
    assert "invalid JSON" in reasons["outbox/droid/truncated_qa_pairs.json"]
    assert "no usable pair" in reasons["outbox/droid/no_answers_qa_pairs.json"]
    assert "hello" in reasons["outbox/droid/wrong_shape.json"]
    md = (settings.root_path / "inbox/droid/STATUS.md").read_text()
    assert all(reason in md for reason in reasons.values())
    events = [json.loads(line) for line in json_logs.read_text().splitlines()]
    logged = {e["path"]: e["reason"] for e in events if e["event"] == "file.rejected"}
    assert logged == reasons
    # the daemon carries on: a good file after the bad ones is still imported
    deliver(settings.root_path, "outbox/droid/session_02/ema_qa_pairs.json")
    wait_for(lambda: _pairs(settings) == 3, what="the good file after the bad ones")


def test_restart_imports_nothing_twice_and_takes_files_dropped_while_stopped(
    settings: Settings, start_daemon: Callable[..., Daemon]
) -> None:
    first = start_daemon()
    deliver(settings.root_path, "outbox/droid/session_02/sma_qa_pairs.json")
    wait_for(lambda: _pairs(settings) == 4, what="the first import")
    first.stop()
    deliver(settings.root_path, "outbox/droid/session_02/ema_qa_pairs.json")
    second = start_daemon()
    assert second.join(10)
    assert _pairs(settings) == 7
    assert [p for p, _ in _ledger(settings)] == [
        "outbox/droid/session_02/sma_qa_pairs.json",
        "outbox/droid/session_02/ema_qa_pairs.json",
    ]
    # the already-imported file is skipped by (size, mtime) without being read
    assert second.counts["imported"] == 1 and second.counts["unchanged"] == 0


def test_new_content_at_the_same_path_is_imported_again(
    settings: Settings, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    target = settings.root_path / "outbox/droid/extra_qa_pairs.json"
    target.write_text('[{"q": "What is OBV?", "a": "On-balance volume."}]')
    wait_for(lambda: _pairs(settings) == 1, what="the first version")
    target.write_text(
        '[{"q": "What is OBV?", "a": "On-balance volume."},'
        ' {"q": "What is MFI?", "a": "Money flow index."}]'
    )
    wait_for(lambda: _pairs(settings) == 2, what="the second version")
    assert daemon.join(5)
    assert len(_ledger(settings)) == 2


def test_temporary_dot_and_own_status_files_are_never_picked_up(
    settings: Settings, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    out = settings.root_path / "outbox/droid"
    for name in (".hidden.json", "x.json.tmp", "x.json.part", "x.json~", "x.swp"):
        (out / name).write_text("[]")
    (settings.root_path / "inbox/droid/status.json").write_text("{}")
    deliver(settings.root_path, "outbox/droid/session_02/ema_qa_pairs.json")
    wait_for(lambda: _pairs(settings) == 3, what="the real delivery")
    assert daemon.join(5)
    assert [p for p, _ in _ledger(settings)] == ["outbox/droid/session_02/ema_qa_pairs.json"]


def test_a_link_leading_outside_the_root_is_refused_unread(
    settings: Settings,
    start_daemon: Callable[..., Daemon],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    start_daemon()
    outside = tmp_path_factory.mktemp("outside") / "secret_qa_pairs.json"
    outside.write_text('[{"q": "secret?", "a": "yes"}]')
    os.symlink(outside, settings.root_path / "outbox/droid/secret_qa_pairs.json")
    wait_for(
        lambda: _status(settings.root_path, "droid").get("rejected"), what="the link to be refused"
    )
    reason = _status(settings.root_path, "droid")["rejected"][0]["reason"]
    assert "symbolic link" in reason and "refused unread" in reason
    assert _pairs(settings) == 0


def test_unconfigured_agent_folder_is_reported_not_guessed(
    settings: Settings, start_daemon: Callable[..., Daemon]
) -> None:
    start_daemon()
    deliver(
        settings.root_path,
        "outbox/droid/session_02/ema_qa_pairs.json",
        "outbox/mystery/ema_qa_pairs.json",
    )
    wait_for(lambda: _ledger(settings), what="the file to be recorded")
    assert _ledger(settings) == [("outbox/mystery/ema_qa_pairs.json", "rejected")]
    assert _pairs(settings) == 0
