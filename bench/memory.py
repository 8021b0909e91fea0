"""Scenario 4: peak RSS of ``inboxd process`` on a 1 GB JSON Lines RAG export, and the 35 MB one.

Peak RSS is the child's own ``ru_maxrss`` (``wait4``). The size cap (512 MB by default) is
raised for the child with ``INBOXD_MAX_FILE_BYTES``. The baselines: ``reference.py`` streams
JSON Lines a line at a time; the shared reference (``shared_reference.py``) reads the export
whole with ``json``.
"""

from __future__ import annotations

import time
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
from bench.datagen import write_rag_jsonl

TARGET_MIB = 150


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
    env = child_env(INBOXD_MAX_FILE_BYTES=str(max(info["bytes"] * 2, 512 * 1024 * 1024)))
    big: list[Measured] = []
    for r in range(cfg.memory_runs):
        run_root = root if r == 0 else make_root(work / f"root-{r}")
        if r:
            (run_root / rag.relative_to(root)).hardlink_to(rag)
        log(f"memory: inboxd process on {size_mb:,.0f} MB, run {r + 1}/{cfg.memory_runs}")
        big.append(
            run_measured(
                [
                    str(INBOXD),
                    "process",
                    "--root",
                    str(run_root),
                    str(run_root / rag.relative_to(root)),
                ],
                output=work / f"inboxd-{r}.out",
                env=env,
                timeout=3600,
            ).check("inboxd process")
        )
        log(f"memory: {big[-1].seconds:.1f} s, peak RSS {big[-1].peak_rss_mib:,.0f} MiB")
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
    return [
        Row(
            "memory",
            f"peak RSS, inboxd process on a {size_mb:,.0f} MB RAG JSON Lines export "
            f"[{cfg.memory_runs} run{'s' if cfg.memory_runs > 1 else ''}]",
            median(rss),
            "MiB",
            ref.peak_rss_mib,
            "reference.py (streams lines)",
            f"≤ {TARGET_MIB} MB",
            median(rss) <= TARGET_MIB,
            samples=rss,
            baseline_samples=[ref.peak_rss_mib],
            note=(
                f"wall {median([m.seconds for m in big]):.0f} s, CPU "
                f"{median([m.cpu_seconds for m in big]):.0f} s (reference: wall "
                f"{ref.seconds:.0f} s, CPU {ref.cpu_seconds:.0f} s)"
                + ("; --quick: ~100 MB instead of 1 GB" if cfg.quick else "")
            ),
        ),
        Row(
            "memory",
            f"peak RSS, inboxd process on the {export_mb:.0f} MB export [median of {len(ours_ex)}]",
            median(ours_ex),
            "MiB",
            median(ref_ex),
            "shared_reference.py (json, whole)",
            f"≤ {TARGET_MIB} MB",
            median(ours_ex) <= TARGET_MIB,
            samples=ours_ex,
            baseline_samples=ref_ex,
        ),
    ]
