"""``inboxd demo``: the set it writes, and the outcome docs/formats.md states for it.

``init -> demo -> scan`` through the real command line on a real SQLite file: every file's
outcome and counts, the rejection reasons, the missing sessions. Then the same set processed
in shuffled orders: what the documentation says does not depend on the order stays the same.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon.cli.app import EXIT_FATAL, EXIT_OK, EXIT_REJECTED, cli
from daemon.cli.demo import DEMO_FILES, demo_set
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow, SignalRow
from handlers import HANDLERS
from tests.support import Run, cli_runner, reset_logging

EXPORT = "outbox/claude/database_qa_export_20251030_012343.json"
SMA = "outbox/droid/session_02/sma_qa_pairs.json"
SIGNAL = "outbox/droid/ALL_SESSIONS_COMPLETE.txt"

# docs/formats.md, "The demo set and its outcome": (outcome, pairs stored, duplicates) per
# file after `inboxd init && inboxd demo && inboxd scan` (the export is read before the SMA file).
SCANNED = {
    "inbox/droid/MASTER_EXECUTION_PLAN.md": ("imported", 0, 0),
    "inbox/droid/SESSION_INDEX.md": ("imported", 0, 0),
    "inbox/droid/session-02-assignment.md": ("imported", 0, 0),
    "inbox/droid/session-03-assignment.md": ("imported", 0, 0),
    EXPORT: ("imported", 5, 0),
    "outbox/droid/no_answers_qa_pairs.json": ("rejected", 0, 0),
    "outbox/droid/rag_export_20251101.jsonl": ("imported", 2, 0),
    "outbox/droid/research_report_macd_20251102_1412.txt": ("imported", 3, 0),
    "outbox/droid/research_report_rsi_20251103_0900.txt": ("rejected", 0, 0),
    "outbox/droid/session_02/ema_qa_pairs.json": ("imported", 3, 0),
    SMA: ("imported", 3, 2),
    "outbox/droid/session_02/wma_qa_pairs.jsonl": ("imported", 3, 0),
    "outbox/droid/session_04/stochastic_qa_pairs.json": ("imported", 1, 0),
    "outbox/droid/status.txt": ("imported", 0, 0),
    "outbox/droid/truncated_qa_pairs.json": ("rejected", 0, 0),
    "outbox/droid/wrong_shape.json": ("rejected", 0, 0),
    "outbox/gemini/refinement_0001.jsonl": ("imported", 0, 0),
    SIGNAL: ("imported", 0, 0),
}
# The two files that share the SMA question split 8 stored and 2 duplicates between them by
# which comes first: the export (scan order: outbox/claude sorts first) or the SMA file.
SMA_FIRST = {EXPORT: ("imported", 4, 1), SMA: ("imported", 4, 1)}
REASONS = {
    "outbox/droid/truncated_qa_pairs.json": (
        "outbox/droid/truncated_qa_pairs.json, line 1, column 201: invalid JSON"
    ),
    "outbox/droid/no_answers_qa_pairs.json": "no usable pair (2 pairs without an answer)",
    "outbox/droid/wrong_shape.json": "not a known Q&A shape: found keys hello",
    "outbox/droid/research_report_rsi_20251103_0900.txt": (
        "research_report_rsi_20251103_0900.txt, line 3: no usable pair (1 question(s) skipped)"
    ),
}
TOTAL_PAIRS = 20
TOTAL_DUPLICATES = 2


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Iterator[Run]:
    """``inboxd ARGS --root <tmp_path>`` in-process: (exit code, output without log lines)."""
    with cli_runner(capsys, "--root", str(tmp_path)) as invoke:
        yield invoke


def _files(root: Path) -> dict[str, tuple[str, int, int]]:
    with _reader(root) as reader:
        rows = reader.execute(
            select(
                FileRecord.rel_path,
                FileRecord.outcome,
                FileRecord.pairs_stored,
                FileRecord.pairs_duplicate,
            )
        ).all()
    return {rel: (outcome, stored, dup) for rel, outcome, stored, dup in rows}


def _reasons(root: Path) -> dict[str, str | None]:
    with _reader(root) as reader:
        rows = reader.execute(
            select(FileRecord.rel_path, FileRecord.reason).where(FileRecord.outcome == "rejected")
        ).all()
    return {rel: reason for rel, reason in rows}


@contextmanager
def _reader(root: Path) -> Iterator[Session]:
    """A read session on the root's SQLite file; the database is disposed of afterwards."""
    db = Database(f"sqlite:///{root / 'var' / 'inboxd.db'}")
    try:
        with db.reader() as reader:
            yield reader
    finally:
        db.dispose()


def _status(root: Path, agent: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "inbox" / agent / "status.json").read_text())
    return data


def _assert_order_free_outcome(root: Path, files: dict[str, tuple[str, int, int]]) -> None:
    """What holds whatever the order: outcomes, reasons, totals, the missing sessions."""
    assert {rel: outcome for rel, (outcome, _, _) in files.items()} == {
        rel: outcome for rel, (outcome, _, _) in SCANNED.items()
    }
    assert sum(stored for _, stored, _ in files.values()) == TOTAL_PAIRS
    assert sum(dup for _, _, dup in files.values()) == TOTAL_DUPLICATES
    reasons = _reasons(root)
    assert set(reasons) == set(REASONS)
    for rel, expected in REASONS.items():
        assert expected in (reasons[rel] or ""), (rel, reasons[rel])
    with _reader(root) as reader:
        assert reader.scalar(select(func.count()).select_from(QAPairRow)) == TOTAL_PAIRS
        scored = reader.execute(
            select(QAPairRow.question, QAPairRow.tier).where(QAPairRow.tier.is_not(None))
        ).all()
    assert sorted(scored) == [
        ("What is a golden cross?", "standard"),
        ("What is the Simple Moving Average (SMA)?", "premium"),
    ]
    sessions = _status(root, "droid")["sessions"]
    assert sessions["missing"] == [3]
    assert sessions["missing_indicators"] == {"2": ["ADX"]}


def test_init_demo_scan_gives_the_documented_outcome(run: Run, tmp_path: Path) -> None:
    assert run("init")[0] == EXIT_OK
    code, out = run("demo")
    assert code == EXIT_OK
    assert f"demo: {len(SCANNED)} files written" in out
    code, out = run("scan")
    assert code == EXIT_REJECTED
    assert f"{len(SCANNED)} files: imported 14, rejected 4" in out

    files = _files(tmp_path)
    assert files == SCANNED
    _assert_order_free_outcome(tmp_path, files)
    with _reader(tmp_path) as reader:
        signal = reader.scalars(select(SignalRow)).one()
        filtered = reader.scalar(
            select(FileRecord.pairs_filtered).where(
                FileRecord.rel_path == "outbox/droid/rag_export_20251101.jsonl"
            )
        )
    assert signal.outcome == "closed"
    assert signal.findings is not None
    assert signal.findings["missing_sessions"] == [3]
    assert signal.findings["missing_indicators"] == {"2": ["ADX"]}
    assert filtered == 1
    assert _status(tmp_path, "droid")["sessions"]["assigned"] == [2, 3, 4, 45]
    assert _status(tmp_path, "gemini")["refinement"]["handed"] == TOTAL_PAIRS - 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_outcome_does_not_depend_on_arrival_order(run: Run, tmp_path: Path, seed: int) -> None:
    assert run("init")[0] == EXIT_OK
    assert run("demo")[0] == EXIT_OK
    order = [str(tmp_path / f.target) for f in demo_set()]
    random.Random(seed).shuffle(order)
    assert run("process", *order)[0] == EXIT_REJECTED

    files = _files(tmp_path)
    _assert_order_free_outcome(tmp_path, files)
    split = {rel: files[rel] for rel in (EXPORT, SMA)}
    scanned = {rel: SCANNED[rel] for rel in (EXPORT, SMA)}
    assert split in (scanned, SMA_FIRST)
    rest = {rel: counts for rel, counts in files.items() if rel not in split}
    assert rest == {rel: counts for rel, counts in SCANNED.items() if rel not in split}


def test_demo_writes_the_same_bytes_again_and_refuses_other_content(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    try:
        assert cli("demo", "--root", str(tmp_path)) == EXIT_OK
        assert cli("demo", "--root", str(tmp_path)) == EXIT_OK
        assert f"0 files written into {tmp_path} ({len(SCANNED)} already there)" in (
            capsys.readouterr().out
        )

        claim = tmp_path / "outbox/droid/status.txt"
        claim.write_text("Sessions Complete: 40/43\n")
        (tmp_path / "outbox/droid/wrong_shape.json").unlink()
        assert cli("demo", "--root", str(tmp_path)) == EXIT_FATAL
    finally:
        reset_logging()
    err = capsys.readouterr().err
    assert err == (
        "error: demo: refusing to overwrite files with other content: outbox/droid/status.txt;"
        " move them away, or give an empty --root\n"
    )
    assert claim.read_text() == "Sessions Complete: 40/43\n"
    assert not (tmp_path / "outbox/droid/wrong_shape.json").exists(), "nothing written"


def test_the_demo_set_has_a_file_of_every_kind_inboxd_reads(run: Run, tmp_path: Path) -> None:
    run("demo")
    run("scan")
    with _reader(tmp_path) as reader:
        kinds = set(reader.scalars(select(FileRecord.kind).where(FileRecord.outcome == "imported")))
    assert kinds == {handler.name for handler in HANDLERS}


def test_every_demo_file_is_packaged() -> None:
    """pyproject's package-data for daemon.cli takes every file of the set into a wheel."""
    import glob
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["daemon.cli"]
    package = DEMO_FILES.parent
    packaged = {
        Path(package / name)
        for pattern in patterns
        for name in glob.glob(pattern, root_dir=package, recursive=True)
    }
    shipped = {path for path in DEMO_FILES.rglob("*") if path.is_file()}
    assert len(shipped) == len(SCANNED)
    assert shipped <= packaged
