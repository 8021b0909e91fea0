"""Scenario 1: importing the 12,188-pair export, against the reference and the users' script."""

from __future__ import annotations

import gc
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench import reference, users_script
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
from bench.datagen import export_document, export_pair_count, with_telling_phrases, write_json
from bench.inproc import prepared
from daemon.ingest import analysis
from daemon.ingest.pipeline import Pipeline

EXPORT_NAME = "database_qa_export_bench.json"
BENCH = Path(__file__).resolve().parent


def export_file(cfg: Config) -> tuple[Path, int]:
    """The export (generated once per run): sessions numbered backwards, ~3,233-char answers."""
    path = cfg.work / "data" / EXPORT_NAME
    if not path.exists():
        started = time.perf_counter()
        document = with_telling_phrases(
            export_document(sessions=cfg.export_sessions, pairs=cfg.export_pairs)
        )
        write_json(path, document)
        log(
            f"export generated: {export_pair_count(document):,} pairs, "
            f"{path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s"
        )
    return path, cfg.export_pairs


def same_patterns() -> list[str]:
    """The copies in reference.py and users_script.py must still be inboxd's definition."""
    differ = []
    for name in ("FORMULA_RE", "EXAMPLES_RE", "SOURCES_RE", "CRYPTO_RE"):
        ours, theirs = getattr(analysis, name), getattr(reference, name)
        if (ours.pattern, ours.flags) != (theirs.pattern, theirs.flags):
            differ.append(f"reference.{name}")
    for name in ("FORMULA", "EXAMPLES", "SOURCES"):
        if getattr(analysis, f"{name}_RE").pattern != getattr(users_script, name):
            differ.append(f"users_script.{name}")
    return differ


def _root_with(export: Path, root: Path) -> Path:
    make_root(root)
    target = root / "outbox" / "claude" / export.name
    os.link(export, target)
    return target


Timed = tuple[float, float]  # (wall, CPU) seconds


def inboxd_in_process(export: Path, root: Path, pairs: int) -> Timed:
    """Pipeline.process on a fresh root (its schema made beforehand, not timed)."""
    target = _root_with(export, root)
    with prepared(root) as (settings, db):
        pipeline = Pipeline(settings, db)
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        outcome = pipeline.process(target)
        timed = time.perf_counter() - started, time.process_time() - cpu
    if outcome.outcome != "imported" or outcome.result.stored != pairs:
        raise RuntimeError(f"inboxd: {outcome.outcome} {outcome.result.stored} {outcome.reason}")
    return timed


def reference_in_process(export: Path, db: Path, pairs: int, *, substring: bool) -> Timed:
    conn = reference.connect(db)
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    stored = reference.import_file(conn, export, substring=substring)
    timed = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    if stored != pairs:
        raise RuntimeError(f"reference stored {stored} of {pairs}")
    return timed


def inboxd_process(export: Path, root: Path) -> Measured:
    target = _root_with(export, root)
    return run_measured(
        [str(INBOXD), "process", "--root", str(root), str(target)], output=root / "process.out"
    ).check("inboxd process")


def reference_process(export: Path, db: Path, *, substring: bool) -> Measured:
    cmd = [
        PYTHON,
        str(BENCH / "reference.py"),
        *(["--substring"] if substring else []),
        str(export),
        str(db),
    ]
    return run_measured(cmd, output=db.with_suffix(".out")).check("reference.py")


def users_process(export: Path, db: Path, *, index: bool) -> Measured:
    users_script.make_legacy_db(db, index=index)
    return run_measured(
        [PYTHON, str(BENCH / "users_script.py"), str(export), str(db)],
        output=db.with_suffix(".out"),
    ).check("users_script.py")


FlagRow = tuple[int, int, int, int, int]


def _flags(db: Path) -> dict[str, FlagRow]:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT question, answer_length, has_formula, has_examples, has_sources,"
        " crypto_specific FROM qa_pairs"
    ).fetchall()
    conn.close()
    return {q: (int(n), int(f), int(e), int(s), int(c)) for q, n, f, e, s, c in rows}


def compare_flags(inboxd_db: Path, users_db: Path, reference_db: Path) -> dict[str, Any]:
    """Row by row, by question: inboxd's flags against the users' regexes and the reference."""
    ours, users, ref = _flags(inboxd_db), _flags(users_db), _flags(reference_db)
    against_users = [q for q, row in ours.items() if q not in users or users[q][1:4] != row[1:4]]
    against_ref = [q for q, row in ours.items() if q not in ref or ref[q][1:] != row[1:]]
    length = [q for q, row in ours.items() if q in users and users[q][0] != row[0]]
    return {
        "pairs": len(ours),
        "users_compared": sum(1 for q in ours if q in users),
        "differ_from_users": len(against_users),
        "differ_from_reference": len(against_ref),
        "answer_length_differs_from_users": len(length),
        "examples": against_users[:5] + against_ref[:5],
        "set": {
            name: sum(row[i] for row in ours.values())
            for i, name in enumerate(
                ("has_formula", "has_examples", "has_sources", "crypto_specific"), 1
            )
        },
    }


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    export, pairs = export_file(cfg)
    work = cfg.work / "export"
    work.mkdir(parents=True, exist_ok=True)
    drift = same_patterns()
    if drift:
        raise RuntimeError(f"regexes copied from daemon/ingest/analysis.py have drifted: {drift}")
    n = cfg.repeats
    size = f"{pairs:,} pairs"

    log(f"export: in-process, inboxd Pipeline x{n}")
    ours_in = [inboxd_in_process(export, work / f"inproc-{i}", pairs) for i in range(n)]
    slow = cfg.slow_repeats
    log(f"export: in-process, reference x{slow} (regex flags) and x{n} (substring flags)")
    ref_in = [
        reference_in_process(export, work / f"ref-in-{i}.db", pairs, substring=False)
        for i in range(slow)
    ]
    sub_in = [
        reference_in_process(export, work / f"sub-in-{i}.db", pairs, substring=True)
        for i in range(n)
    ]

    log(f"export: whole processes x{n}")
    ours_proc = [inboxd_process(export, work / f"proc-{i}") for i in range(n)]
    ref_runs = 1
    ref_proc = [
        reference_process(export, work / f"ref-proc-{i}.db", substring=False)
        for i in range(ref_runs)
    ]
    sub_proc = [
        reference_process(export, work / f"sub-proc-{i}.db", substring=True) for i in range(n)
    ]
    shared["export_process"] = {"inboxd": ours_proc, "reference": sub_proc, "pairs": pairs}

    users_runs = slow
    log(f"export: users' script with the index x{users_runs}")
    users_idx = [
        users_process(export, work / f"users-idx-{i}.db", index=True) for i in range(users_runs)
    ]
    log("export: users' script without the index x1 (slow: a table scan per pair)")
    users_noidx = users_process(export, work / "users-noidx.db", index=False)

    flags = compare_flags(
        work / "inproc-0" / "var" / "inboxd.db", work / "users-idx-0.db", work / "ref-in-0.db"
    )
    shared["flags"] = flags

    def secs(runs: list[Measured]) -> list[float]:
        return [m.seconds for m in runs]

    def cpu(runs: list[Measured]) -> float:
        return median([m.cpu_seconds for m in runs])

    def wall_in(timed: list[Timed]) -> list[float]:
        return [t[0] for t in timed]

    def cpu_in(timed: list[Timed]) -> float:
        return median([t[1] for t in timed])

    ours_in_s, ref_in_s, sub_in_s = wall_in(ours_in), wall_in(ref_in), wall_in(sub_in)
    rows = [
        Row(
            "export import",
            f"in-process ({size}): Pipeline.process vs reference, regex flags "
            f"[median of {n} / {slow}]",
            median(ours_in_s),
            "s",
            median(ref_in_s),
            "bench/reference.py, 4 regexes",
            "≤ 1.3x",
            median(ours_in_s) <= 1.3 * median(ref_in_s),
            cpu=cpu_in(ours_in),
            baseline_cpu=cpu_in(ref_in),
            samples=ours_in_s,
            baseline_samples=ref_in_s,
        ),
        Row(
            "export import",
            f"in-process ({size}): Pipeline.process vs reference, substring flags [median of {n}]",
            median(ours_in_s),
            "s",
            median(sub_in_s),
            "reference, substring flags",
            "≤ 1.3x",
            median(ours_in_s) <= 1.3 * median(sub_in_s),
            cpu=cpu_in(ours_in),
            baseline_cpu=cpu_in(sub_in),
            samples=ours_in_s,
            baseline_samples=sub_in_s,
        ),
        Row(
            "export import",
            f"whole process: inboxd process vs python bench/reference.py "
            f"[median of {n} / {ref_runs}]",
            median(secs(ours_proc)),
            "s",
            median(secs(ref_proc)),
            "reference.py, 4 regexes",
            "≤ 1.6x",
            median(secs(ours_proc)) <= 1.6 * median(secs(ref_proc)),
            cpu=cpu(ours_proc),
            baseline_cpu=cpu(ref_proc),
            samples=secs(ours_proc),
            baseline_samples=secs(ref_proc),
        ),
        Row(
            "export import",
            f"whole process: inboxd process vs reference.py --substring [median of {n}]",
            median(secs(ours_proc)),
            "s",
            median(secs(sub_proc)),
            "reference.py --substring",
            "≤ 1.6x",
            median(secs(ours_proc)) <= 1.6 * median(secs(sub_proc)),
            cpu=cpu(ours_proc),
            baseline_cpu=cpu(sub_proc),
            samples=secs(ours_proc),
            baseline_samples=secs(sub_proc),
        ),
        Row(
            "export import",
            f"whole process: inboxd process vs users' script, with index "
            f"[median of {n} / {users_runs}]",
            median(secs(ours_proc)),
            "s",
            median(secs(users_idx)),
            "users_script.py, index",
            "< 1x (faster)",
            median(secs(ours_proc)) < median(secs(users_idx)),
            cpu=cpu(ours_proc),
            baseline_cpu=cpu(users_idx),
            samples=secs(ours_proc),
            baseline_samples=secs(users_idx),
        ),
        Row(
            "export import",
            "whole process: inboxd process vs users' script, no index [1 run]",
            median(secs(ours_proc)),
            "s",
            users_noidx.seconds,
            "users_script.py, no index",
            "",
            None,
            cpu=cpu(ours_proc),
            baseline_cpu=users_noidx.cpu_seconds,
            samples=secs(ours_proc),
            baseline_samples=[users_noidx.seconds],
            note=f"on the {size} export" + (" (--quick: a smaller export)" if cfg.quick else ""),
        ),
        Row(
            "export import",
            "analysis flags identical to the users' regexes (and the reference's 4) on every pair",
            float(flags["pairs"] - flags["differ_from_users"]),
            "pairs",
            float(flags["pairs"]),
            "pairs compared",
            "every pair",
            flags["differ_from_users"] == 0
            and flags["differ_from_reference"] == 0
            and flags["users_compared"] == flags["pairs"],
            show_ratio=False,
            note=(
                f"set: {flags['set']}; differ from users {flags['differ_from_users']}, from "
                f"reference {flags['differ_from_reference']}; answer_length differs "
                f"{flags['answer_length_differs_from_users']} (inboxd trims white space)"
            ),
        ),
    ]
    return rows
