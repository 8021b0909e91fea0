"""Scenario 7 (issue 15): ``inboxd dataset snapshot`` to Parquet and DuckDB, time and peak RSS.

The database is filled directly (``fill_stored_pairs``: 200,000 pairs, ~1,000-char answers).
Each run is a whole process: ``inboxd dataset snapshot NAME --format F`` (a new name each
time: snapshots are never overwritten), and the baseline ``bench/snapshot_baseline.py``
(fetch every row, build one Arrow table, write it), taken in turns. Targets: inboxd within
1.3x of the baseline's time and a third of its peak RSS; the full run adds a 1,000,000-pair
Parquet snapshot, under 300 MB peak.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from bench.common import (
    INBOXD,
    PYTHON,
    Config,
    Measured,
    Row,
    log,
    make_root,
    median,
    run_measured,
)
from bench.datagen import fill_stored_pairs
from bench.inproc import prepared

BASELINE = Path(__file__).resolve().parent / "snapshot_baseline.py"
BASELINE_LABEL = "snapshot_baseline.py (fetchall, one table)"
TIME_RATIO = 1.3
RSS_RATIO = 1 / 3
LARGE_TARGET_MB = 300
FORMATS = {"parquet": "Parquet", "duckdb": "DuckDB"}
# columns compared between inboxd's and the baseline's Parquet (all but the long text)
_COMPARED = ["qa_id", "question_key", "indicator", "tier", "quality_score", "refined_at"]


def database(root: Path, pairs: int) -> Path:
    """A fresh root with ``pairs`` stored pairs; its database file."""
    make_root(root)
    with prepared(root) as (settings, _):
        path = settings.var_dir / "inboxd.db"
    started = time.perf_counter()
    fill_stored_pairs(path, pairs)
    log(
        f"datasets: {pairs:,} pairs stored in {time.perf_counter() - started:.1f} s "
        f"({path.stat().st_size / 1e6:,.0f} MB)"
    )
    return path


def snapshot(root: Path, name: str, fmt: str, output: Path) -> Measured:
    return run_measured(
        [str(INBOXD), "dataset", "snapshot", name, "--format", fmt, "--root", str(root)],
        output=output,
    ).check("inboxd dataset snapshot")


def baseline(db: Path, out: Path, fmt: str) -> Measured:
    return run_measured(
        [PYTHON, str(BASELINE), str(db), str(out), "--format", fmt],
        output=out.with_name(out.name + ".out"),
    ).check("snapshot_baseline.py")


def same_data(ours: Path, theirs: Path) -> None:
    """The two Parquet files hold the same rows, in the same order (long text aside)."""
    a, b = pq.read_table(ours, columns=_COMPARED), pq.read_table(theirs, columns=_COMPARED)
    if not a.equals(b):
        raise RuntimeError(f"{ours} and {theirs} differ: the baseline's query has drifted")


def compare_format(cfg: Config, work: Path, root: Path, db: Path, fmt: str) -> list[Row]:
    """inboxd against the baseline on one format, taken in turns: a time row and an RSS row."""
    ours: list[Measured] = []
    theirs: list[Measured] = []
    for i in range(cfg.repeats):
        log(f"datasets: {fmt}, run {i + 1}/{cfg.repeats}")
        out = work / f"baseline-{i}.{fmt}"
        out.unlink(missing_ok=True)
        theirs.append(baseline(db, out, fmt))
        ours.append(snapshot(root, f"{fmt}-{i}", fmt, work / f"inboxd-{fmt}-{i}.out"))
        log(
            f"datasets: inboxd {ours[-1].seconds:.2f} s, {ours[-1].peak_rss_mib:,.0f} MiB; "
            f"baseline {theirs[-1].seconds:.2f} s, {theirs[-1].peak_rss_mib:,.0f} MiB"
        )
    if fmt == "parquet":
        same_data(
            root / "var" / "datasets" / "parquet-0" / "pairs.parquet", work / "baseline-0.parquet"
        )
    pairs = f"{cfg.datasets_pairs:,} pairs"
    note = "--quick: the targets are for 200,000 pairs (here the start-up dominates)"
    note = note if cfg.quick else ""
    n = cfg.repeats
    secs, base_secs = [m.seconds for m in ours], [m.seconds for m in theirs]
    rss, base_rss = [m.peak_rss_mib for m in ours], [m.peak_rss_mib for m in theirs]
    return [
        Row(
            "datasets",
            f"time: inboxd dataset snapshot, {pairs} to {FORMATS[fmt]}, vs the baseline "
            f"[median of {n}]",
            median(secs),
            "s",
            median(base_secs),
            BASELINE_LABEL,
            f"≤ {TIME_RATIO}x",
            median(secs) <= TIME_RATIO * median(base_secs),
            cpu=median([m.cpu_seconds for m in ours]),
            baseline_cpu=median([m.cpu_seconds for m in theirs]),
            samples=secs,
            baseline_samples=base_secs,
            note=note,
        ),
        Row(
            "datasets",
            f"peak RSS: the same, {pairs} to {FORMATS[fmt]} [median of {n}]",
            median(rss),
            "MiB",
            median(base_rss),
            BASELINE_LABEL,
            "≤ 0.33x",
            median(rss) <= RSS_RATIO * median(base_rss),
            samples=rss,
            baseline_samples=base_rss,
            note=note,
        ),
    ]


def large(cfg: Config, work: Path) -> list[Row]:
    """The 1,000,000-pair Parquet snapshot: inboxd's peak RSS, and the baseline's once."""
    pairs = cfg.datasets_large_pairs
    root = work / "large"
    db = database(root, pairs)
    runs = cfg.slow_repeats
    ours = []
    for i in range(runs):
        log(f"datasets: {pairs:,} pairs to Parquet, run {i + 1}/{runs}")
        ours.append(snapshot(root, f"large-{i}", "parquet", work / f"inboxd-large-{i}.out"))
        log(f"datasets: {ours[-1].seconds:.1f} s, {ours[-1].peak_rss_mib:,.0f} MiB")
    log(f"datasets: baseline on {pairs:,} pairs, 1 run")
    theirs = baseline(db, work / "baseline-large.parquet", "parquet")
    log(f"datasets: baseline {theirs.seconds:.1f} s, {theirs.peak_rss_mib:,.0f} MiB")
    rss = [m.peak_rss_mib for m in ours]
    secs = [m.seconds for m in ours]
    peak_mb = median(rss) * 1.048576
    return [
        Row(
            "datasets",
            f"peak RSS: inboxd dataset snapshot, {pairs:,} pairs to Parquet [median of {runs} / 1]",
            median(rss),
            "MiB",
            theirs.peak_rss_mib,
            BASELINE_LABEL,
            f"< {LARGE_TARGET_MB} MB",
            peak_mb < LARGE_TARGET_MB,
            samples=rss,
            baseline_samples=[theirs.peak_rss_mib],
            note=(
                f"{peak_mb:,.0f} MB; wall {median(secs):.1f} s, CPU "
                f"{median([m.cpu_seconds for m in ours]):.1f} s (baseline: wall "
                f"{theirs.seconds:.1f} s, CPU {theirs.cpu_seconds:.1f} s)"
            ),
        )
    ]


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    work = cfg.work / "datasets"
    work.mkdir(parents=True, exist_ok=True)
    root = work / "root"
    db = database(root, cfg.datasets_pairs)
    rows = [row for fmt in FORMATS for row in compare_format(cfg, work, root, db, fmt)]
    if cfg.datasets_large_pairs:
        rows += large(cfg, work)
    shared["datasets"] = {"pairs": cfg.datasets_pairs, "large_pairs": cfg.datasets_large_pairs}
    return rows
