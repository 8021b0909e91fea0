"""Scenario 9: ``mkdir -p outbox/droid/a/b/c`` followed at once by writes inside it (and inside
the levels between): every file is imported, although some are written before the watcher
has a watch on their folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from tests.reliability.probes import ledger_rows, pair_count, qa_document, write_then_rename
from tests.support import wait_for

TREES = 5
LEVELS = ("a", "a/b", "a/b/c")
FILES_PER_LEVEL = 3


def _plan(tree: int) -> list[tuple[str, str]]:
    """(path relative to the root, question) for every file of one new tree."""
    return [
        (
            f"outbox/droid/tree_{tree}/{level}/f{n}_qa_pairs.json",
            f"Tree {tree} level {level} file {n}: what is the Sharpe ratio?",
        )
        for level in reversed(LEVELS)  # the deepest first: the last folder to get a watch
        for n in range(FILES_PER_LEVEL)
    ]


def _assert_all_imported(daemon: Daemon, db: Database, expected: list[str]) -> None:
    wait_for(
        lambda: len(ledger_rows(db)) >= len(expected),
        timeout=10,
        what="every file in the new folders",
    )
    assert daemon.join(5)
    rows = ledger_rows(db)
    assert sorted(r.rel_path for r in rows) == sorted(expected)
    assert {r.outcome for r in rows} == {"imported"}
    assert pair_count(db) == len(expected)
    assert daemon.counts["worker_error"] == 0


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def test_files_written_at_once_into_new_nested_folders_are_all_imported(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    root = settings.root_path
    expected = []
    for tree in range(TREES):
        os.makedirs(root / f"outbox/droid/tree_{tree}/a/b/c")
        for rel, question in _plan(tree):
            _write(root / rel, qa_document(question))
            expected.append(rel)
    _assert_all_imported(daemon, db, expected)


def test_files_renamed_at_once_into_new_nested_folders_are_all_imported(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon()
    root = settings.root_path
    expected = []
    for tree in range(TREES):
        os.makedirs(root / f"outbox/droid/tree_{tree}/a/b/c")
        for rel, question in _plan(tree):
            write_then_rename(root / rel, qa_document(question))
            expected.append(rel)
    _assert_all_imported(daemon, db, expected)
