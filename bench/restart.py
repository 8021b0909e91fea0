"""Scenario 5: time to ready over a tree of 10,000 files already imported.

The tree is imported once through ``Pipeline.process`` in this process: what ``inboxd
scan`` does, without its status rewrite after every file (which alone would make scan far
slower for 10,000 files); the status files are written once at the end. Then the daemon
is started on it: ``inboxd run`` as a child until its log says ``daemon.ready``, and
``Daemon.start()`` in this process until ``daemon.ready`` is set.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    PYTHON,
    Config,
    DaemonProcess,
    Row,
    child_env,
    log,
    make_root,
    median,
    run_measured,
)
from bench.datagen import answer_pool, small_qa_document
from bench.inproc import prepared, settings_for
from daemon.ingest.oneshot import pending_files
from daemon.ingest.pipeline import Pipeline
from daemon.live.service import Daemon
from daemon.status.writer import StatusWriter

TARGET_SECONDS = 3.0
FILES_PER_FOLDER = 250


def build_tree(root: Path, count: int) -> float:
    """Write ``count`` 2-pair files and import them; returns the import's seconds."""
    make_root(root)
    pool = answer_pool(61, 300, seed=13)
    for i in range(count):
        path = (
            root
            / "outbox"
            / "droid"
            / f"session_{1 + i // FILES_PER_FOLDER:02d}"
            / (f"part_{i:05d}.json")
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(small_qa_document(i, pairs=2, pool=pool, tag="restart")))
    with prepared(root) as (settings, db):
        pipeline = Pipeline(settings, db)
        started = time.perf_counter()
        outcomes = [pipeline.process(path) for path in pending_files(settings)]
        seconds = time.perf_counter() - started
        StatusWriter(settings, db).write_all()
    imported = sum(1 for o in outcomes if o.outcome == "imported")
    if imported != count:
        raise RuntimeError(f"restart tree: {imported} of {count} files imported")
    return seconds


def ready_in_process(root: Path) -> float:
    daemon = Daemon(settings_for(root))
    started = time.perf_counter()
    daemon.start()
    try:
        while not daemon.ready.wait(0.001):
            if time.perf_counter() - started > 300:
                raise TimeoutError("Daemon not ready in 300 s")
        return time.perf_counter() - started
    finally:
        daemon.stop(timeout=30)


def reads_per_rescan(root: Path, count: int) -> list[int]:
    """Rewrite ``count`` imported files with their own bytes (new mtime and ctime, same
    content), then count the files each of three scans reads: the daemon's start, and two
    rescans after it. Each read of such a file ends ``unchanged``."""
    for path in sorted((root / "outbox" / "droid").rglob("*.json"))[:count]:
        path.write_bytes(path.read_bytes())
    daemon = Daemon(settings_for(root))
    daemon.start()
    reads: list[int] = []
    try:
        for scan in range(3):
            if scan:
                daemon.rescan(reason="bench")
            if not daemon.join(timeout=300):
                raise TimeoutError("the daemon did not finish its scan in 300 s")
            reads.append(daemon.counts["unchanged"] + daemon.counts["imported"] - sum(reads))
    finally:
        daemon.stop(timeout=30)
    return reads


def ready_child(root: Path, run: int) -> float:
    daemon = DaemonProcess(root, log=root.parent / f"restart-{run}.out")
    try:
        return daemon.wait_ready(timeout=300)
    finally:
        daemon.stop()


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    root = cfg.work / "restart" / "root"
    log(f"restart: writing and importing {cfg.restart_files:,} files (setup, not timed)")
    setup = build_tree(root, cfg.restart_files)
    log(f"restart: imported in {setup:.1f} s ({cfg.restart_files / setup:.0f} files/s)")
    children = []
    for r in range(cfg.restart_runs):
        children.append(ready_child(root, r))
        log(f"restart: `inboxd run` ready in {children[-1]:.2f} s")
    inproc = []
    for _ in range(cfg.restart_runs):
        inproc.append(ready_in_process(root))
        log(f"restart: Daemon.start() ready in {inproc[-1]:.2f} s")
    imports = [
        run_measured(
            [PYTHON, "-c", "import daemon.cli.app"],
            output=cfg.work / "restart" / "imports.out",
            env=child_env(),
        ).seconds
        for _ in range(cfg.restart_runs)
    ]
    rewritten = min(1_000, cfg.restart_files)
    reads = reads_per_rescan(root, rewritten)
    log(f"restart: {rewritten} files rewritten with the same bytes; reads per scan: {reads}")
    shared["restart"] = {"setup_seconds": setup, "files": cfg.restart_files, "reads": reads}
    files = f"{cfg.restart_files:,} imported files"
    return [
        Row(
            "restart",
            f"`inboxd run` exec -> log event daemon.ready, {files} [median of {cfg.restart_runs}]",
            median(children),
            "s",
            median(imports),
            "python -c 'import daemon.cli.app' alone",
            f"≤ {TARGET_SECONDS:g} s",
            median(children) <= TARGET_SECONDS,
            show_ratio=False,
            samples=children,
            baseline_samples=imports,
        ),
        Row(
            "restart",
            f"Daemon.start() -> ready set, in-process, {files} [median of {cfg.restart_runs}]",
            median(inproc),
            "s",
            None,
            "",
            f"≤ {TARGET_SECONDS:g} s",
            median(inproc) <= TARGET_SECONDS,
            samples=inproc,
            note=f"setup: import of the tree took {setup:.0f} s "
            f"({cfg.restart_files / setup:.0f} files/s, in-process, no status writes)",
        ),
        Row(
            "restart",
            f"{rewritten:,} files rewritten in place with the same bytes: files read by the "
            "two rescans after the start's (the start's own reads as the baseline)",
            float(reads[1] + reads[2]),
            "files",
            float(reads[0]),
            "files read by the start's scan (each once, ending unchanged)",
            "0 (read once)",
            reads[0] == rewritten and reads[1] + reads[2] == 0,
            show_ratio=False,
            samples=[float(r) for r in reads],
        ),
    ]
