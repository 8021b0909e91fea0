"""``inboxd dedup --rebuild``: the pairs stored without a signature indexed and marked, the same
marks as an import that looked for them, and a run killed (kill -9) mid-way then run again
ending with the same marks as one run."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from daemon.cli.app import EXIT_OK
from tests.dataset.support import LEGACY_SQL
from tests.neardup.conftest import marks, rows, write_pairs
from tests.support import Run
from tests.support import console as inboxd

CHUNK = 100  # pairs per rebuild transaction here: many chunks from a small set


def labelled_questions() -> list[str]:
    """Every question of the labelled set once, in its order: paraphrases and hard negatives
    side by side, as agents deliver them."""
    from tests.data.near_duplicates.generate import OUTPUT

    seen: dict[str, None] = {}
    for line in OUTPUT.read_text("utf-8").splitlines():
        row = json.loads(line)
        seen.setdefault(row["a"], None)
        seen.setdefault(row["b"], None)
    return list(seen)


@pytest.fixture
def stored_unindexed(run: Run, root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The root with the labelled questions stored while nothing looked for near-duplicates."""
    monkeypatch.setenv("INBOXD_NEAR_DUPLICATE_POLICY", "off")
    write_pairs(root, "labelled_qa_pairs.json", labelled_questions())
    assert run("scan")[0] == EXIT_OK
    monkeypatch.setenv("INBOXD_NEAR_DUPLICATE_POLICY", "flag")
    assert rows(root, "SELECT count(*) FROM near_signatures") == [(0,)]
    return root


def test_rebuild_gives_the_marks_an_import_looking_for_them_gives(
    stored_unindexed: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run("dedup", "--rebuild")
    assert code == EXIT_OK
    rebuilt = marks(stored_unindexed)
    count = sum(1 for _, of, _ in rebuilt if of is not None)
    assert f"pairs indexed: {len(rebuilt)}, near-duplicates marked: {count}" in out
    assert count > 100
    # the same file imported with the search on, in another root
    other = tmp_path / "flagged"
    for box in ("inbox", "outbox"):
        (other / box / "droid").mkdir(parents=True)
    write_pairs(other, "labelled_qa_pairs.json", labelled_questions())
    done = inboxd(
        "scan", "--root", str(other), cwd=tmp_path, env={"INBOXD_NEAR_DUPLICATE_POLICY": "flag"}
    )
    assert done.code == EXIT_OK, done.err
    assert marks(other) == rebuilt


def test_a_second_rebuild_has_nothing_to_do(stored_unindexed: Path, run: Run) -> None:
    assert run("dedup", "--rebuild")[0] == EXIT_OK
    before = marks(stored_unindexed)
    code, out = run("dedup", "--rebuild")
    assert code == EXIT_OK
    assert "pairs indexed: 0, near-duplicates marked: 0" in out
    assert marks(stored_unindexed) == before


def test_rebuild_killed_mid_way_then_run_again_gives_the_same_marks(
    stored_unindexed: Path, tmp_path: Path
) -> None:
    once = tmp_path / "once"
    shutil.copytree(stored_unindexed, once)
    env = {"INBOXD_NEAR_DUPLICATE_REBUILD_CHUNK": str(CHUNK)}
    killed = inboxd(
        "dedup",
        "--rebuild",
        "--root",
        str(stored_unindexed),
        cwd=tmp_path,
        env={**env, "INBOXD_CRASH_AT": "rebuild-chunk-5"},
    )
    assert killed.code == -9, killed.err
    # four chunks committed, the fifth rolled back
    assert rows(stored_unindexed, "SELECT count(*) FROM near_signatures") == [(4 * CHUNK,)]
    again = inboxd("dedup", "--rebuild", "--root", str(stored_unindexed), cwd=tmp_path, env=env)
    assert again.code == EXIT_OK, again.err
    ((total,),) = rows(stored_unindexed, "SELECT count(*) FROM qa_pairs")
    assert f"pairs indexed: {total - 4 * CHUNK}," in again.out
    single = inboxd("dedup", "--rebuild", "--root", str(once), cwd=tmp_path, env=env)
    assert single.code == EXIT_OK, single.err
    assert marks(stored_unindexed) == marks(once)
    assert rows(stored_unindexed, "SELECT count(*) FROM near_signatures") == [(total,)]


def test_dedup_without_rebuild_is_a_usage_error(run: Run) -> None:
    assert run("dedup")[0] == 2


def test_rebuild_indexes_an_adopted_production_database(run: Run, root: Path) -> None:
    """The legacy sample's repeated question (kept at adoption, marked key_conflict) is the
    near-duplicate of its first, similarity 1; every legacy pair is in the index after."""
    legacy = root / "var" / "inboxd.db"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(legacy)) as connection:
        connection.executescript(LEGACY_SQL.read_text())
        connection.commit()
    assert run("init")[0] == EXIT_OK
    assert run("dedup", "--rebuild")[0] == EXIT_OK
    ((pairs,),) = rows(root, "SELECT count(*) FROM qa_pairs")
    assert rows(root, "SELECT count(*) FROM near_signatures") == [(pairs,)]
    marked = [(q, of, similarity) for q, of, similarity in marks(root) if of is not None]
    conflict = rows(root, "SELECT question FROM qa_pairs WHERE key_conflict")
    assert [(q, similarity) for q, _, similarity in marked] == [(conflict[0][0], 1.0)]
