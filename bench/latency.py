"""Scenario 3: one 100-pair file renamed into an idle daemon -> its status.json updated.

The file is written under a temporary name first (not timed); the clock starts at the
rename and stops when a 1 ms poll sees the agent's new ``status.json`` with the file's
pairs. The baseline is what a process-per-file watcher pays at least per drop: one
``inboxd process`` of the same kind of file, as a whole process.

Issue 16 adds two ways files arrive, timed from the move to the daemon's own
``file.imported`` log event (its ``ts``, against the wall clock read just before the move):
a file written outside the tree, then ``mv``-ed in (how most agents deliver; inotify sees
a move with no source, which once waited for the settle window), and the first file of a
sub-folder made a moment before (``mkdir``, then the file moved in at once: it may come
before the folder's watch, and is then found by walking the new folder).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    INBOXD,
    Config,
    DaemonProcess,
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
ARRIVAL_GOAL = 0.050  # issue 16: p99 of a moved-in file and of a new sub-folder's first file


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    root = make_root(cfg.work / "latency" / "root")
    folder = root / "outbox" / "droid" / "session_07"
    folder.mkdir()
    pool = answer_pool(101, 1_000, seed=9)
    drops = cfg.latency_drops
    payloads = [
        orjson.dumps(small_qa_document(i, pairs=PAIRS, pool=pool, tag="latency"))
        for i in range(3 * drops + cfg.latency_baseline_runs)
    ]
    samples: list[float] = []
    log(f"latency: {drops} drops of one {PAIRS}-pair file into an idle daemon")
    with running_daemon(root, root / "daemon.out") as daemon:
        daemon.wait_ready()
        watch = StatusWatch(root)
        watch.wait(lambda view: True, timeout=30)
        for i in range(drops):
            target = folder / f"latency_{i:04d}.json"
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(payloads[i])
            time.sleep(IDLE_GAP)  # the .part events are handled (ignored) before the clock
            started = time.perf_counter()
            os.rename(tmp, target)
            seen = watch.wait_pairs(PAIRS * (i + 1), timeout=60)
            samples.append(seen - started)
        outside = root.parent / "elsewhere"
        outside.mkdir(exist_ok=True)
        log(f"latency: {drops} files mv-ed in from outside the tree, then {drops} new folders")
        moved_in = _arrivals(watch, payloads[drops : 2 * drops], outside, _into(folder))
        new_folder = _arrivals(
            watch, payloads[2 * drops : 3 * drops], outside, _into_new_folder(folder.parent)
        )
        errors = list(daemon.errors)
    moved_in_s = _to_imported(daemon, moved_in)
    new_folder_s = _to_imported(daemon, new_folder)
    log(
        f"latency: p50 {median(samples) * 1000:.1f} ms, p99 {percentile(samples, 99) * 1000:.1f} "
        "ms; whole-process `inboxd process` baseline"
    )
    base = []
    for j in range(cfg.latency_baseline_runs):
        target = folder / f"process_{j:04d}.json"
        target.write_bytes(payloads[3 * drops + j])
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
        *_arrival_rows("`mv` from outside the tree -> file.imported", moved_in_s),
        *_arrival_rows("first file in a new sub-folder (mkdir, mv) -> file.imported", new_folder_s),
    ]


# A drop: moves one file (written at ``source``) into the tree; returns where it went.
Move = Callable[[Path, int], Path]


def _into(folder: Path) -> Move:
    """``mv`` into an existing folder."""

    def move(source: Path, i: int) -> Path:
        target = folder / f"moved_in_{i:04d}.json"
        os.rename(source, target)
        return target

    return move


def _into_new_folder(parent: Path) -> Move:
    """``mkdir`` a sub-folder, then ``mv`` the file into it at once."""

    def move(source: Path, i: int) -> Path:
        target = parent / f"new_session_{i:04d}" / f"first_{i:04d}.json"
        os.mkdir(target.parent)
        os.rename(source, target)
        return target

    return move


def _arrivals(
    watch: StatusWatch, payloads: list[bytes], outside: Path, move: Move
) -> dict[str, float]:
    """Each file written outside the tree (not timed), then moved in: the wall clock just
    before each move, by the file's name; the next drop waits until the daemon is idle."""
    moved_at: dict[str, float] = {}
    for i, payload in enumerate(payloads):
        source = outside / f"drop_{i:04d}.json"
        source.write_bytes(payload)
        time.sleep(IDLE_GAP)
        pairs = watch.imported()
        started = time.time()
        target = move(source, i)
        moved_at[target.name] = started
        watch.wait_pairs(pairs + PAIRS, timeout=60)
    return moved_at


def _to_imported(daemon: DaemonProcess, moved_at: dict[str, float]) -> list[float]:
    """Seconds from each move to its ``file.imported`` event (read once the daemon stopped)."""
    imported = {
        os.path.basename(str(event.get("path", ""))): datetime.fromisoformat(event["ts"])
        for event in daemon.events()
        if event.get("event") == "file.imported"
    }
    missing = sorted(set(moved_at) - set(imported))
    if missing:
        raise RuntimeError(f"no file.imported event for {missing[:3]}; see {daemon.log_path}")
    return [imported[name].timestamp() - started for name, started in moved_at.items()]


def _arrival_rows(what: str, samples: list[float]) -> list[Row]:
    runs = f"{len(samples)} drops"
    p50, p99 = median(samples), percentile(samples, 99)
    return [
        Row(
            "latency",
            f"p50, {what} [{runs}]",
            p50,
            "s",
            note=f"min {min(samples) * 1000:.1f} ms",
            samples=samples,
        ),
        Row(
            "latency",
            f"p99, {what} [{runs}]",
            p99,
            "s",
            target=f"≤ {ARRIVAL_GOAL * 1000:.0f} ms",
            met=p99 <= ARRIVAL_GOAL,
            note=f"max {max(samples) * 1000:.0f} ms",
        ),
    ]
