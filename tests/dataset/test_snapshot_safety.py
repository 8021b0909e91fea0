"""What a snapshot promises its users beyond its content: it can be checked, it can be built
on, bad input is refused, and nothing that looks like a snapshot is left by a failure.

``verify`` names every file that no longer matches the manifest; an incremental snapshot
with its parent equals a full one taken at the same time; each mistake on the command line is
one ``error:`` line, the right exit code and nothing in ``var/datasets``; a full disk (a real
1 MB tmpfs where one can be mounted, and a writer made to fail in-process everywhere) and a
``kill -9`` in the middle leave no snapshot folder and, once the next snapshot ran, no hidden
partial folder either. The commands under test run as the installed console script, as a
person runs them (``tests/daemon/test_cli_errors.py``); the set-up runs in-process, and so
does the snapshot whose Parquet writer is patched to fail.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.datagen import fill_stored_pairs
from daemon.cli.app import EXIT_OK
from daemon.dataset.formats import ParquetFile
from daemon.dataset.rows import Chunk
from daemon.errors import EXIT_FAILED, EXIT_USAGE
from tests.dataset.support import (
    Row,
    deliver_json,
    deliver_refinement,
    inboxd,
    qa_ids_by_question,
    read_data_file,
    read_jsonl,
    scan,
    sqlite_url,
    take_snapshot,
)
from tests.support import INBOXD, Done, assert_one_error_line, console, wait_for

# pairs delivered after the first snapshot, in a session of their own
NEW_FILE = "outbox/droid/session_09/vwap_qa_pairs.json"
NEW_PAIRS = [
    {"question": f"How is VWAP read in case {n}?", "answer": f"Against price, case {n}."}
    for n in range(1, 4)
]
# the refiner's second opinion on pairs the first snapshot holds: (score, tier) by question
RESCORED = {
    "What is a MACD bullish crossover?": (0.41, "low"),
    "How is the EMA initialised?": (0.97, "premium"),
}
KILLED_SNAPSHOT_PAIRS = 100_000  # enough that writing takes seconds (measured: about 8 s)


def _datasets(root: Path) -> Path:
    return root / "var" / "datasets"


def _entries(root: Path) -> list[str]:
    """Everything in var/datasets, hidden folders included (none: nothing was left)."""
    folder = _datasets(root)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _manifest(folder: Path) -> dict[str, Any]:
    value = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert isinstance(value, dict)
    return value


def _snapshot_command(root: Path, *args: str) -> Done:
    return console("dataset", "snapshot", *args, "--root", str(root), cwd=root)


def _verify(root: Path, name: str) -> Done:
    return console("dataset", "verify", name, "--root", str(root), cwd=root)


def _filled_root(where: Path, pairs: int, answer_length: int) -> Path:
    """A root made by ``inboxd init`` whose database holds ``pairs`` generated pairs."""
    root = where / "big-root"
    assert inboxd("init", "--root", str(root)) == EXIT_OK
    fill_stored_pairs(root / "var" / "inboxd.db", pairs, answer_length=answer_length)
    return root


# -- verify ------------------------------------------------------------------------------


def test_verify_passes_on_an_untouched_snapshot(dataset_root: Path) -> None:
    take_snapshot(dataset_root, "v1")
    done = _verify(dataset_root, "v1")
    assert done.code == EXIT_OK, done.err
    assert "snapshot v1: every file matches its manifest" in done.out


def _writable(path: Path) -> Path:
    """A snapshot's files are read-only; the tests run as root but do not rely on it."""
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return path


@pytest.mark.parametrize("data_file", ["pairs.parquet", "pairs.jsonl", "pairs.csv", "pairs.duckdb"])
def test_verify_names_a_data_file_with_one_byte_changed(dataset_root: Path, data_file: str) -> None:
    folder = take_snapshot(dataset_root, "v1")
    assert not (folder / data_file).stat().st_mode & stat.S_IWUSR, "written read-only"
    with _writable(folder / data_file).open("r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0x01]))  # same size, one bit flipped
    done = _verify(dataset_root, "v1")
    assert_one_error_line(done, EXIT_FAILED, f"1 file(s) differ from its manifest: {data_file}")
    assert f"{data_file}: changed" in done.out


def test_verify_names_a_deleted_file_and_an_extra_one(dataset_root: Path) -> None:
    folder = take_snapshot(dataset_root, "v1")
    (folder / "rag.jsonl").unlink()
    (folder / "notes.txt").write_text("a file someone added", encoding="utf-8")
    done = _verify(dataset_root, "v1")
    assert_one_error_line(done, EXIT_FAILED, "2 file(s) differ from its manifest")
    assert "rag.jsonl: missing" in done.out
    assert "notes.txt: not in the manifest" in done.out


# -- incremental -------------------------------------------------------------------------


def _change_the_database(root: Path) -> dict[str, set[int]]:
    """New pairs delivered and some pairs re-scored by the refiner, through ``scan``: the
    qa_ids added and those changed."""
    before = qa_ids_by_question(sqlite_url(root))
    deliver_json(root, NEW_FILE, {"indicator": "VWAP", "session": 9, "qa_pairs": NEW_PAIRS})
    scan(root)
    after = qa_ids_by_question(sqlite_url(root))
    records = [
        {"qa_id": before[question], "quality_score": score, "tier": tier}
        for question, (score, tier) in RESCORED.items()
    ]
    deliver_refinement(root, "refinement_0003.jsonl", records)
    scan(root)
    added = {after[p["question"]] for p in NEW_PAIRS}
    assert added and added.isdisjoint(before.values())
    return {"added": added, "changed": {before[q] for q in RESCORED}}


def _rows_by_id(folder: Path) -> dict[int, Row]:
    return {row["qa_id"]: row for row in read_data_file(folder / "pairs.parquet")}


def _with_parent(parent: Path, child: Path) -> dict[int, Row]:
    """The parent's rows overlaid by the incremental snapshot's, less the removed pairs."""
    rows = _rows_by_id(parent) | _rows_by_id(child)
    for record in read_jsonl(child / "removed.jsonl"):
        del rows[record["qa_id"]]
    return rows


def test_an_incremental_snapshot_holds_the_added_and_changed_pairs_and_with_its_parent_is_full(
    dataset_root: Path,
) -> None:
    v1 = take_snapshot(dataset_root, "v1")
    changes = _change_the_database(dataset_root)
    v2 = take_snapshot(dataset_root, "v2", "--since-snapshot", "v1")
    v3 = take_snapshot(dataset_root, "v3")
    assert set(_rows_by_id(v2)) == changes["added"] | changes["changed"]
    for qa_id in changes["changed"]:
        assert _rows_by_id(v2)[qa_id] != _rows_by_id(v1)[qa_id]
    assert _with_parent(v1, v2) == _rows_by_id(v3)
    manifest, full = _manifest(v2), _manifest(v3)
    assert (manifest["parent"], _manifest(v1)["parent"]) == ("v1", None)
    assert manifest["pairs"] == len(changes["added"] | changes["changed"])
    assert manifest["pairs_in_state"] == full["pairs"] == len(_rows_by_id(v3))
    assert manifest["removed"] == 0 and read_jsonl(v2 / "removed.jsonl") == []


def test_an_incremental_snapshot_with_a_narrower_filter_lists_the_pairs_it_dropped(
    dataset_root: Path,
) -> None:
    v1 = take_snapshot(dataset_root, "v1")
    changes = _change_the_database(dataset_root)
    v2 = take_snapshot(dataset_root, "v2", "--since-snapshot", "v1", "--agent", "droid")
    v3 = take_snapshot(dataset_root, "v3", "--agent", "droid")
    others = {qa_id: row for qa_id, row in _rows_by_id(v1).items() if row["agent"] != "droid"}
    assert others, "the imported root holds pairs of other agents (claude's export, adopted)"
    removed = read_jsonl(v2 / "removed.jsonl")
    assert {r["qa_id"] for r in removed} == set(others)
    for record in removed:
        key = others[record["qa_id"]]["question_key"]
        assert record["pair"] in (key, f"{key}#{record['qa_id']}", f"qa:{record['qa_id']}")
    assert _manifest(v2)["removed"] == len(others)
    assert _manifest(v2)["parent"] == "v1"
    assert changes["added"] <= set(_rows_by_id(v2))
    assert _with_parent(v1, v2) == _rows_by_id(v3)


# -- bad input ---------------------------------------------------------------------------

BAD_SNAPSHOTS = {
    "existing name": (["v1"], EXIT_USAGE, "a snapshot named v1 exists already"),
    "unknown format": (["x", "--format", "parquet,xml"], EXIT_USAGE, "--format 'xml' is not"),
    "split not adding to 1": (
        ["x", "--split", "train=0.9,test=0.2"],
        EXIT_USAGE,
        "the fractions add up to 1.1; they must make 1",
    ),
    "split with a bad name": (
        ["x", "--split", "tr ain=0.5,test=0.5"],
        EXIT_USAGE,
        "'tr ain=0.5' is not name=fraction",
    ),
    "sessions backwards": (["x", "--sessions", "5-2"], EXIT_USAGE, "the range runs backwards"),
    "sessions not numbers": (["x", "--sessions", "a-b"], EXIT_USAGE, "give a session or a range"),
    "since not a date": (["x", "--since", "2025-13-45"], EXIT_USAGE, "is not a date"),
    "unknown tier": (["x", "--tier", "gold"], EXIT_USAGE, "--tier 'gold' is not a tier"),
    "score out of range": (["x", "--min-score", "1.5"], EXIT_USAGE, "--min-score 1.5 is out of"),
    "score not a number": (["x", "--min-score", "high"], EXIT_USAGE, "'--min-score'"),
    "filter matching nothing": (
        ["x", "--agent", "nobody"],
        EXIT_FAILED,
        "snapshot x: no pair matches the filters; nothing was written",
    ),
    "nothing changed since the parent": (
        ["x", "--since-snapshot", "v1"],
        EXIT_FAILED,
        "nothing changed since v1",
    ),
    "missing parent": (["x", "--since-snapshot", "nope"], EXIT_USAGE, "no snapshot named nope"),
    "name with a slash": (["a/b"], EXIT_USAGE, "snapshot name 'a/b' is not a plain folder name"),
    "name with a leading dot": ([".x"], EXIT_USAGE, "snapshot name '.x' is not a plain folder"),
}


@pytest.mark.parametrize(("args", "code", "message"), BAD_SNAPSHOTS.values(), ids=BAD_SNAPSHOTS)
def test_a_bad_snapshot_request_is_one_error_line_and_writes_nothing(
    dataset_root: Path, args: list[str], code: int, message: str
) -> None:
    v1 = take_snapshot(dataset_root, "v1", "--format", "jsonl")
    manifest_before = (v1 / "manifest.json").read_bytes()
    done = _snapshot_command(dataset_root, *args)
    assert_one_error_line(done, code, message)
    assert _entries(dataset_root) == ["v1"]
    assert (v1 / "manifest.json").read_bytes() == manifest_before


def test_allow_empty_writes_an_empty_snapshot_that_verifies(dataset_root: Path) -> None:
    done = _snapshot_command(dataset_root, "empty", "--agent", "nobody", "--allow-empty")
    assert done.code == EXIT_OK, done.err
    folder = _datasets(dataset_root) / "empty"
    manifest = _manifest(folder)
    assert manifest["pairs"] == 0
    assert manifest["filters"] == {"agents": ["nobody"]}
    for name in ("pairs.parquet", "pairs.jsonl", "pairs.csv", "pairs.duckdb"):
        assert manifest["files"][name]["rows"] == 0
        assert read_data_file(folder / name) == []
    assert _verify(dataset_root, "empty").code == EXIT_OK


# -- no space left -----------------------------------------------------------------------


@pytest.fixture
def root_on_small_disk(tmp_path: Path) -> Iterator[Path]:
    """A root of 3,000 generated pairs (several MB in any format) whose var/datasets is a
    1 MB tmpfs; skipped where this user may not mount one."""
    root = _filled_root(tmp_path, 3_000, answer_length=1_000)
    disk = _datasets(root)
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", str(disk)], check=True, capture_output=True)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv", "duckdb", "rag"])
def test_a_full_disk_is_said_and_leaves_no_snapshot_and_no_partial_folder(
    root_on_small_disk: Path, fmt: str
) -> None:
    """A real filesystem running out of space part-way, whichever file hits it first."""
    done = _snapshot_command(root_on_small_disk, "full-disk", "--format", fmt)
    assert_one_error_line(done, EXIT_FAILED, "no space left on the disk of var/datasets")
    assert "the partial snapshot was removed" in done.err
    assert _entries(root_on_small_disk) == []


def test_a_writer_failing_for_want_of_space_part_way_leaves_nothing(
    dataset_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same path on any machine: the Parquet writer fails after its first chunk
    (chunks of 5 rows here), with the partial folder holding what was written so far."""
    monkeypatch.setattr("daemon.dataset.rows.BATCH_ROWS", 5)
    write = ParquetFile.write
    seen_at_failure: list[str] = []

    def fills_the_disk(self: ParquetFile, chunk: Chunk) -> None:
        if self.rows:
            seen_at_failure.extend(_entries(dataset_root))
            raise OSError(errno.ENOSPC, "No space left on device")
        write(self, chunk)

    monkeypatch.setattr(ParquetFile, "write", fills_the_disk)
    capsys.readouterr()
    code = inboxd("dataset", "snapshot", "nospace", "--root", str(dataset_root))
    err = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert err.startswith("error: no space left on the disk of var/datasets"), err
    assert seen_at_failure == [f".nospace.partial-{socket.gethostname()}-{os.getpid()}"]
    assert _entries(dataset_root) == []


# -- kill -9 -----------------------------------------------------------------------------


def _partial_with_bytes(root: Path, name: str) -> Path | None:
    """The snapshot's hidden partial folder, once a file in it holds bytes."""
    for folder in _datasets(root).glob(f".{name}.partial-*") if _datasets(root).is_dir() else []:
        try:
            if any(path.stat().st_size for path in folder.iterdir()):
                return folder
        except FileNotFoundError:  # renamed into place meanwhile: the kill came too late
            return None
    return None


def _listed(root: Path) -> list[str]:
    done = console("dataset", "list", "--json", "--root", str(root), cwd=root)
    assert done.code == EXIT_OK, done.err
    return [snapshot["name"] for snapshot in json.loads(done.out)]


def test_a_snapshot_killed_mid_write_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    root = _filled_root(tmp_path, KILLED_SNAPSHOT_PAIRS, answer_length=200)
    with open(tmp_path / "snapshot.out", "wb") as out:
        writer = subprocess.Popen(
            [str(INBOXD), "dataset", "snapshot", "big", "--root", str(root)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith("INBOXD_")},
        )
    try:
        partial = wait_for(
            lambda: _partial_with_bytes(root, "big") or writer.poll() is not None,
            timeout=60,
            what="the snapshot's partial folder to hold bytes",
        )
        assert writer.poll() is None, "the snapshot ended before it could be killed"
    finally:
        writer.kill()  # SIGKILL: no handler, no clean-up
        writer.wait(10)
    assert partial.name == f".big.partial-{socket.gethostname()}-{writer.pid}"
    assert _entries(root) == [partial.name]  # left behind, and hidden
    assert "big" not in _listed(root)
    assert_one_error_line(_verify(root, "big"), EXIT_USAGE, "no snapshot named big")

    again = _snapshot_command(root, "big")
    assert again.code == EXIT_OK, again.err
    assert _entries(root) == ["big"]
    assert _manifest(_datasets(root) / "big")["pairs"] == KILLED_SNAPSHOT_PAIRS
    assert _listed(root) == ["big"]
