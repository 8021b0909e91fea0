"""Scenario 4: peak RSS of ``inboxd process`` on a 1 GB JSON Lines RAG export, the 35 MB
export, and a file of 200,000 pairs in each Q&A JSON shape (issue 16).

Peak RSS is the child's own (GNU time's ``%M``, else ``wait4``). The size cap (512 MB by
default) is raised for the child with ``INBOXD_MAX_FILE_BYTES``. The baselines, in the same
run: ``reference.py`` streams the JSON Lines a line at a time; the shared reference
(``shared_reference.py``) reads the export whole with ``json``; each shape's file is read
whole by the stdlib's json (``bench/whole_json.py``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from bench import export
from bench.common import (
    INBOXD,
    PYTHON,
    Config,
    Measured,
    Row,
    child_env,
    log,
    make_root,
    median,
    run_measured,
)
from bench.datagen import PAIR_SHAPES, write_pairs_file, write_rag_jsonl

TARGET_MIB = 150
# each shape's delivery (the name routes it: docs/formats.md) and how a person calls it
SHAPE_FILES = {
    "list": ("rsi_qa_pairs.json", "list-shaped .json on one line"),
    "object": ("rsi_object_qa_pairs.json", "object-shaped .json (qa_pairs)"),
    "export": ("database_qa_export_bench.json", "multi-session export"),
    "jsonl": ("rsi_qa_pairs.jsonl", "JSON Lines"),
    "utf16": ("rsi_utf16_qa_pairs.json", "object-shaped .json in UTF-16"),
}


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    work = cfg.work / "memory"
    root = make_root(work / "root")
    rag = root / "outbox" / "droid" / "rag_export_bench.jsonl"
    started = time.perf_counter()
    info = write_rag_jsonl(rag, cfg.memory_bytes)
    size_mb = info["bytes"] / 1e6
    log(
        f"memory: RAG export {size_mb:,.0f} MB, {info['records']:,} records "
        f"({info['kept']:,} below the distance threshold) in {time.perf_counter() - started:.1f} s"
    )
    big = _process_runs(cfg, work, root, rag, "rag")
    log("memory: reference (streaming) on the same file")
    ref = run_measured(
        [
            PYTHON,
            str(export.BENCH / "reference.py"),
            "--substring",
            str(rag),
            str(work / "reference.db"),
        ],
        output=work / "reference.out",
        timeout=3600,
    ).check("reference.py")
    log(f"memory: reference {ref.seconds:.1f} s, peak RSS {ref.peak_rss_mib:,.0f} MiB")

    if "export_process" not in shared:
        path, pairs = export.export_file(cfg)
        log(f"memory: inboxd process and the reference on the export x{cfg.repeats}")
        shared["export_process"] = {
            "inboxd": [
                export.inboxd_process(path, work / f"export-{i}") for i in range(cfg.repeats)
            ],
            "reference": [
                export.reference_process(path, work / f"export-ref-{i}.db")
                for i in range(cfg.repeats)
            ],
            "pairs": pairs,
        }
    ex = shared["export_process"]
    ours_ex = [m.peak_rss_mib for m in ex["inboxd"]]
    ref_ex = [m.peak_rss_mib for m in ex["reference"]]
    rss = [m.peak_rss_mib for m in big]
    export_mb = export.export_file(cfg)[0].stat().st_size / 1e6
    shared["memory"] = {
        "rag": info,
        "inboxd_seconds": [m.seconds for m in big],
        "reference_seconds": ref.seconds,
    }
    rows = [
        _rss_row(
            f"peak RSS, inboxd process on a {size_mb:,.0f} MB RAG JSON Lines export "
            f"[{cfg.memory_runs} run{'s' if cfg.memory_runs > 1 else ''}]",
            rss,
            [ref.peak_rss_mib],
            "reference.py (streams lines)",
            note=(
                f"wall {median([m.seconds for m in big]):.0f} s, CPU "
                f"{median([m.cpu_seconds for m in big]):.0f} s (reference: wall "
                f"{ref.seconds:.0f} s, CPU {ref.cpu_seconds:.0f} s)"
                + ("; --quick: ~100 MB instead of 1 GB" if cfg.quick else "")
            ),
        ),
        _rss_row(
            f"peak RSS, inboxd process on the {export_mb:.0f} MB export [median of {len(ours_ex)}]",
            ours_ex,
            ref_ex,
            "shared_reference.py (json, whole)",
        ),
    ]
    return rows + [_shape_row(cfg, work, shape) for shape in PAIR_SHAPES]


def _shape_row(cfg: Config, work: Path, shape: str) -> Row:
    """``inboxd process`` on ``cfg.memory_shape_pairs`` pairs in one shape, against the same
    file read whole by the stdlib (``bench/whole_json.py``); the root is removed after."""
    name, described = SHAPE_FILES[shape]
    root = make_root(work / f"shape-{shape}")
    path = root / "outbox" / "droid" / name
    info = write_pairs_file(path, shape, cfg.memory_shape_pairs)
    size_mb = info["bytes"] / 1e6
    ours = _process_runs(cfg, work, root, path, f"shape-{shape}")
    for r in range(cfg.memory_runs):
        stored = _stored(work / f"shape-{shape}-{r}.out")
        if stored != info["pairs"]:
            raise RuntimeError(f"{shape}: {stored:,} pairs stored of {info['pairs']:,}")
    whole = run_measured(
        [PYTHON, str(export.BENCH / "whole_json.py"), str(path)],
        output=work / f"shape-{shape}-whole.out",
        timeout=3600,
    ).check("whole_json.py")
    rss = [m.peak_rss_mib for m in ours]
    log(
        f"memory: {shape}, {size_mb:,.0f} MB: inboxd {median(rss):,.0f} MiB "
        f"({median([m.seconds for m in ours]):.0f} s), read whole {whole.peak_rss_mib:,.0f} MiB"
    )
    for folder in {root, *(work / f"shape-{shape}-root-{r}" for r in range(1, cfg.memory_runs))}:
        shutil.rmtree(folder, ignore_errors=True)
    return _rss_row(
        f"peak RSS, inboxd process on a {size_mb:,.0f} MB {described}, "
        f"{info['pairs']:,} pairs [{cfg.memory_runs} run{'s' if cfg.memory_runs > 1 else ''}]",
        rss,
        [whole.peak_rss_mib],
        "the file read whole by json",
        note=f"wall {median([m.seconds for m in ours]):.0f} s",
    )


def _rss_row(
    measure: str, rss: list[float], baseline: list[float], label: str, note: str = ""
) -> Row:
    """A peak RSS (median, MiB) against its baseline's and the goal of ``TARGET_MIB``."""
    return Row(
        "memory",
        measure,
        median(rss),
        "MiB",
        median(baseline),
        label,
        f"≤ {TARGET_MIB} MB",
        median(rss) <= TARGET_MIB,
        samples=rss,
        baseline_samples=baseline,
        note=note,
    )


def _process_runs(cfg: Config, work: Path, root: Path, path: Path, label: str) -> list[Measured]:
    """``inboxd process`` on ``path`` (in ``root``), ``cfg.memory_runs`` times: each run after
    the first on a fresh root holding a hard link to the same file. The size cap is raised."""
    env = child_env(INBOXD_MAX_FILE_BYTES=str(max(path.stat().st_size * 2, 512 * 1024 * 1024)))
    runs: list[Measured] = []
    for r in range(cfg.memory_runs):
        run_root = root if r == 0 else make_root(work / f"{label}-root-{r}")
        if r:
            (run_root / path.relative_to(root)).hardlink_to(path)
        log(f"memory: inboxd process on {label}, run {r + 1}/{cfg.memory_runs}")
        command = [str(INBOXD), "process", "--root", str(run_root)]
        runs.append(
            run_measured(
                [*command, str(run_root / path.relative_to(root))],
                output=work / f"{label}-{r}.out",
                env=env,
                timeout=3600,
            ).check("inboxd process")
        )
        log(f"memory: {runs[-1].seconds:.1f} s, peak RSS {runs[-1].peak_rss_mib:,.0f} MiB")
    return runs


def _stored(output: Path) -> int:
    """The pairs ``inboxd process`` says it stored (its summary line: ``stored N``)."""
    for line in output.read_text(errors="replace").splitlines():
        words = line.split()
        if words[:1] == ["imported"] and "stored" in words:
            return int(words[words.index("stored") + 1])
    return 0
