"""Fixtures of the dataset tests: the imported root, built once, copied for each test.

What it holds and the helpers that read it are in ``tests/dataset/support.py``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from daemon.cli.app import EXIT_OK
from tests.dataset.support import LEGACY_SQL, copy_root, import_demo_set, inboxd


@pytest.fixture(scope="session")
def imported_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root built once: the legacy database adopted by ``init``, then ``import_demo_set``.
    Never changed by a test: ``dataset_root`` hands out copies."""
    root = tmp_path_factory.mktemp("dataset-template") / "root"
    (root / "var").mkdir(parents=True)
    with closing(sqlite3.connect(root / "var" / "inboxd.db")) as legacy:
        legacy.executescript(LEGACY_SQL.read_text())
        legacy.commit()
    assert inboxd("init", "--root", str(root)) == EXIT_OK
    import_demo_set(root)
    return root


@pytest.fixture
def dataset_root(imported_template: Path, tmp_path: Path) -> Path:
    """This test's own copy of the imported root."""
    return copy_root(imported_template, tmp_path)
