"""Scenario 3: one 100-pair file renamed into an idle daemon -> its status.json updated.

The file is written under a temporary name first (not timed); the clock starts at the
rename and stops when a 1 ms poll sees the agent's new ``status.json`` with the file's
pairs. The baseline is what a process-per-file watcher pays at least per drop: one
``inboxd process`` of the same kind of file, as a whole process.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from bench.common import (
    INBOXD,
    Config,
    Row,
    StatusWatch,
    log,
    make_root,
    median,
    percentile,
    run_measured,
    running_daemon,
)
from bench.datagen import answer_pool, small_qa_document

PAIRS = 100
IDLE_GAP = 0.1  # seconds between a status update and the next drop: the daemon is idle again


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    root = make_root(cfg.work / "latency" / "root")
    folder = root / "outbox" / "droid" / "session_07"
    folder.mkdir()
    pool = answer_pool(101, 1_000, seed=9)
    payloads = [
        orjson.dumps(small_qa_document(i, pairs=PAIRS, pool=pool, tag="latency"))
        for i in range(cfg.latency_drops + cfg.latency_baseline_runs)
    ]
    samples: list[float] = []
    log(f"latency: {cfg.latency_drops} drops of one {PAIRS}-pair file into an idle daemon")
    with running_daemon(root, root / "daemon.out") as daemon:
        daemon.wait_ready()
        watch = StatusWatch(root)
        watch.wait(lambda view: True, timeout=30)
        for i in range(cfg.latency_drops):
            target = folder / f"latency_{i:04d}.json"
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(payloads[i])
            time.sleep(IDLE_GAP)  # the .part events are handled (ignored) before the clock
            started = time.perf_counter()
            os.rename(tmp, target)
            seen = watch.wait_pairs(PAIRS * (i + 1), timeout=60)
            samples.append(seen - started)
        errors = list(daemon.errors)
    log(
        f"latency: p50 {median(samples) * 1000:.1f} ms, p99 {percentile(samples, 99) * 1000:.1f} "
        "ms; whole-process `inboxd process` baseline"
    )
    base = []
    for j in range(cfg.latency_baseline_runs):
        target = folder / f"process_{j:04d}.json"
        target.write_bytes(payloads[cfg.latency_drops + j])
        base.append(
            run_measured(
                [str(INBOXD), "process", "--root", str(root), str(target)],
                output=root / f"process-{j}.out",
            )
            .check("inboxd process")
            .seconds
        )
    shared["latency"] = {"samples": samples, "errors": errors[:5]}
    p50, p99 = median(samples), percentile(samples, 99)
    runs = f"{len(samples)} drops"
    note = "baseline: one `inboxd process` per drop (the process-per-file watcher's floor)"
    return [
        Row(
            "latency",
            f"p50, rename -> status.json updated ({PAIRS} pairs) [{runs}]",
            p50,
            "s",
            median(base),
            f"inboxd process, median of {len(base)}",
            "≤ 20 ms",
            p50 <= 0.020,
            samples=samples,
            baseline_samples=base,
            note=note,
        ),
        Row(
            "latency",
            f"p99, rename -> status.json updated [{runs}]",
            p99,
            "s",
            None,
            "",
            "≤ 100 ms",
            p99 <= 0.100,
            note=f"max {max(samples) * 1000:.0f} ms"
            + ("; errors in the daemon log" if errors else ""),
        ),
    ]
