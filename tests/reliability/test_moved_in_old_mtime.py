"""Scenario 3: a file moved in with a year-2000 mtime is imported once.

inotify reports a file renamed in from outside the watched tree as "created" (no close event,
an mtime far in the past); a rename inside the tree is a move. Either way the file is taken
once, and a later catch-up scan does not take it again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from tests.reliability.probes import has_question, ledger_rows, pair_count, qa_document
from tests.support import wait_for

YEAR_2000 = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
SHM = Path("/dev/shm")


def _old_file(folder: Path, name: str, question: str) -> Path:
    path = folder / name
    path.write_bytes(qa_document(question))
    os.utime(path, (YEAR_2000, YEAR_2000))
    return path


def _assert_imported_once(daemon: Daemon, db: Database, rel: str, question: str) -> None:
    wait_for(lambda: has_question(db, question), timeout=5, what=f"{rel} to be imported")
    assert daemon.join(5)
    # the periodic catch-up scan must not take it again (nor even read it)
    daemon.rescan(reason="test")
    assert daemon.join(5)
    assert [(r.outcome, r.pairs_stored) for r in ledger_rows(db, rel)] == [("imported", 1)]
    assert pair_count(db) == 1
    assert daemon.counts["imported"] == 1
    assert daemon.counts["worker_error"] == 0


def test_file_renamed_in_from_outside_the_root_with_year_2000_mtime_is_imported_once(
    settings: Settings,
    db: Database,
    start_daemon: Callable[..., Daemon],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    daemon = start_daemon()
    question = "Renamed in from outside: what is the Puell multiple?"
    source = _old_file(tmp_path_factory.mktemp("elsewhere"), "puell_qa_pairs.json", question)
    rel = "outbox/droid/puell_qa_pairs.json"
    os.rename(source, settings.root_path / rel)
    assert (settings.root_path / rel).stat().st_mtime == YEAR_2000
    _assert_imported_once(daemon, db, rel, question)


def test_file_moved_in_with_shutil_move_with_year_2000_mtime_is_imported_once(
    settings: Settings,
    db: Database,
    start_daemon: Callable[..., Daemon],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    daemon = start_daemon()
    question = "Moved in with shutil.move: what is NVT?"
    source = _old_file(tmp_path_factory.mktemp("elsewhere"), "nvt_qa_pairs.json", question)
    rel = "outbox/droid/nvt_qa_pairs.json"
    shutil.move(source, settings.root_path / rel)
    _assert_imported_once(daemon, db, rel, question)


@pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm for a move across file systems")
def test_file_moved_in_across_file_systems_keeping_year_2000_mtime_is_imported_once(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    """shutil.move across file systems copies the bytes, then sets the old mtime back."""
    daemon = start_daemon()
    question = "Moved across file systems: what is the SOPR?"
    with tempfile.TemporaryDirectory(dir=SHM) as elsewhere:
        if os.stat(elsewhere).st_dev == os.stat(settings.root_path).st_dev:
            pytest.skip("/dev/shm is on the same file system as the test root")
        source = _old_file(Path(elsewhere), "sopr_qa_pairs.json", question)
        rel = "outbox/droid/sopr_qa_pairs.json"
        shutil.move(source, settings.root_path / rel)
        assert (settings.root_path / rel).stat().st_mtime == YEAR_2000
    _assert_imported_once(daemon, db, rel, question)


def test_dot_temp_file_renamed_within_the_tree_with_year_2000_mtime_is_imported_once(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    question = "Renamed from a dot-temp name: what is the MVRV ratio?"
    out = settings.root_path / "outbox/droid"
    temp = _old_file(out, ".x.json", question)
    os.rename(temp, out / "x.json")
    _assert_imported_once(daemon, db, "outbox/droid/x.json", question)


def test_folder_renamed_in_from_outside_with_year_2000_files_imports_each_once(
    settings: Settings,
    db: Database,
    start_daemon: Callable[..., Daemon],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    daemon = start_daemon()
    folder = tmp_path_factory.mktemp("elsewhere") / "session_07"
    (folder / "deep").mkdir(parents=True)
    questions = {
        "session_07/hash_qa_pairs.json": "Folder moved in: what is the hash ribbon?",
        "session_07/deep/cvdd_qa_pairs.json": "Folder moved in: what is CVDD?",
    }
    for rel, question in questions.items():
        _old_file(folder.parent / Path(rel).parent, Path(rel).name, question)
    os.utime(folder, (YEAR_2000, YEAR_2000))
    os.rename(folder, settings.root_path / "outbox/droid/session_07")
    for question in questions.values():
        wait_for(partial(has_question, db, question), timeout=5, what=question)
    assert daemon.join(5)
    daemon.rescan(reason="test")
    assert daemon.join(5)
    rows = ledger_rows(db)
    assert sorted((r.rel_path, r.outcome) for r in rows) == sorted(
        (f"outbox/droid/{rel}", "imported") for rel in questions
    )
    assert pair_count(db) == 2
    assert daemon.counts["imported"] == 2
