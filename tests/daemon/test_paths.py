"""The string-based tree scan agrees with ``locate`` and with the ``Path`` order it replaced.

The catch-up scan at start decides on strings (no ``Path`` per file) for speed; these tests
pin it to the reference: ``os.walk`` + ``locate`` + sorting by ``Path``, on a tree with
every kind of name the rules treat specially.
"""

from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path

import pytest

from daemon.config import DEFAULT_IGNORE, Settings
from daemon.ingest.oneshot import pending_files
from daemon.ingest.paths import Ignored, Location, locate, name_matcher, scan_tree
from daemon.ingest.pipeline import Pipeline
from daemon.live.service import Daemon
from daemon.store.engine import Database
from tests.reliability.probes import qa_document

FILES = (
    "inbox/droid/session-01-assignment.md",
    "inbox/droid/status.json",  # ours: ignored in an inbox
    "inbox/droid/STATUS.md",
    "inbox/gemini/refinement-batch-0001.jsonl",
    "inbox/claude/SESSION_INDEX.md",
    "outbox/droid/status.json",  # not ours in an outbox: a delivery
    "outbox/droid/ALL_SESSIONS_COMPLETE.txt",
    "outbox/droid/all_sessions_complete_v2.md",
    "outbox/droid/a/b_qa_pairs.json",
    "outbox/droid/a-c_qa_pairs.json",  # '-' sorts before '/' as a string, not as parts
    "outbox/droid/a.json",
    "outbox/droid/Z_qa_pairs.json",
    "outbox/droid/session_02/deep/er/x_qa_pairs.json",
    "outbox/droid/session_02/.hidden/x_qa_pairs.json",  # in a dot-folder
    "outbox/droid/.x_qa_pairs.json",
    "outbox/droid/x.json.part",
    "outbox/droid/x.json.tmp",
    "outbox/droid/x.json~",
    "outbox/droid/x.json.crdownload",
    "outbox/claude/export.json",
    "outbox/stranger/unknown_agent_qa_pairs.json",  # an agent not configured: still located
    "outbox/.hidden_agent/x_qa_pairs.json",
    "outbox/loose_in_box.json",  # not in an agent's folder
    "inbox/loose.md",
    "outbox/droid/ünïcödé_qa_pairs.json",
    "outbox/droid/session_01/ALL_SESSIONS_COMPLETE.md",
)


def _reference(settings: Settings) -> list[Path]:
    """What ``pending_files`` was before the string scan: os.walk, locate, sort by Path."""
    found = []
    for box in ("inbox", "outbox"):
        for dirpath, dirnames, filenames in os.walk(settings.root_path / box):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            found += [Path(dirpath) / name for name in filenames]
    kept = [p for p in found if not isinstance(locate(settings, p), Ignored)]
    return sorted(
        kept,
        key=lambda p: (
            p.relative_to(settings.root_path).parts[0] != "inbox",
            p.name.upper().startswith("ALL_SESSIONS_COMPLETE"),
            p,
        ),
    )


@pytest.fixture
def tree(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = settings.root_path
    for rel in FILES:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "linked_qa_pairs.json").write_text("{}")
    (outside / "folder").mkdir()
    (outside / "folder" / "inside_qa_pairs.json").write_text("{}")
    (root / "outbox/droid/link_qa_pairs.json").symlink_to(outside / "linked_qa_pairs.json")
    (root / "outbox/droid/broken_qa_pairs.json").symlink_to(outside / "missing.json")
    (root / "outbox/droid/linked_folder").symlink_to(outside / "folder")
    (root / "outbox/linked_agent").symlink_to(outside / "folder")
    undecodable = os.fsencode(str(root / "outbox/droid")) + b"/bad_\xff_qa_pairs.json"
    with open(undecodable, "w") as handle:
        handle.write("{}")
    return settings


def test_pending_files_are_the_reference_files_in_the_reference_order(tree: Settings) -> None:
    expected = _reference(tree)
    assert pending_files(tree) == expected
    assert Path(tree.root_path / "outbox/droid/link_qa_pairs.json") in expected  # refused later
    assert not any("linked_folder" in str(p) or "linked_agent" in str(p) for p in expected)
    signals = [p for p in expected if p.name.upper().startswith("ALL_SESSIONS_COMPLETE")]
    assert len(signals) == 3 and expected[-3:] == signals


def test_each_candidate_carries_the_ledger_key_locate_gives(tree: Settings) -> None:
    candidates = list(scan_tree(tree))
    assert len(candidates) == len(_reference(tree))
    for found in candidates:
        where = locate(tree, Path(found.path))
        assert isinstance(where, Location)
        assert found.rel_root == where.rel_root
    assert any("\\xff" in found.rel_root for found in candidates)  # shown, not raw


def test_custom_ignore_patterns_apply_to_the_scan(tree: Settings) -> None:
    settings = tree.model_copy(update={"ignore_patterns": ["*.md", "[Zz]*"]})
    names = {Path(p).name for p in pending_files(settings)}
    assert "Z_qa_pairs.json" not in names and "SESSION_INDEX.md" not in names
    assert ".x_qa_pairs.json" not in names  # dot-files stay ignored whatever the patterns
    assert pending_files(settings) == _reference(settings)


@pytest.mark.parametrize(
    "name",
    [
        "a.tmp",
        "a.TMP",
        "a.part",
        "x~",
        ".x",
        "a.json",
        "status.json",
        "a.partial",
        "tmp",
        "a.swp",
        "a.crdownload",
        "[x].json",
        "a\nb.tmp",
        "refinement-batch-1.jsonl",
        "draft-1-of-2.md",
        "draft.md",
        "x1y2z",
    ],
)
def test_one_regex_matches_as_fnmatchcase_per_pattern(name: str) -> None:
    patterns = [
        *DEFAULT_IGNORE,
        "[[]x].json",
        "refinement-batch-*.jsonl",
        "draft-*-of-*.md",
        "*1*2*",
    ]  # several stars: fnmatch.translate's named groups, twice
    expected = any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    assert bool(name_matcher(patterns)(name)) is expected
    assert not name_matcher([])(name)


def test_rescan_queues_only_what_changed_since_it_was_handled(
    settings: Settings, db: Database
) -> None:
    """Handled files are skipped; a new mtime, or a new ctime alone (cp -p), is queued."""
    root = settings.root_path
    paths = [root / f"outbox/droid/keep_{i}_qa_pairs.json" for i in range(3)]
    pipeline = Pipeline(settings, db)
    for i, path in enumerate(paths):
        path.write_bytes(qa_document(f"Question {i}: what does the NVT ratio measure?"))
        assert pipeline.process(path).outcome == "imported"
    daemon = Daemon(settings, db)  # not started: no observer, no worker, just its queue
    assert daemon.rescan(reason="test") == 0
    touched, recopied, _kept = paths
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    time.sleep(0.05)  # file times come from a coarse clock: be clearly after the import
    os.chmod(recopied, 0o640)
    assert daemon.rescan(reason="test") == 2
    assert {daemon.queue.get(timeout=5) for _ in range(2)} == {touched, recopied}
