"""Where inboxd spends its CPU in the benchmark scenarios: cProfile, CPU time, top functions.

    python -m bench.profile export [--pairs 12480]     # Pipeline.process on the export
    python -m bench.profile burst [--files 300]        # the daemon's worker during a burst
    python -m bench.profile restart [--files 2000]     # Daemon.start() until ready

CPU time (``time.process_time``) is profiled, not wall time, so other load on the machine
changes the figures less. The data is the benchmark's own (``bench.datagen``).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench import burst as burst_scenario
from bench import restart as restart_scenario
from bench.common import StatusWatch, drop, make_root
from bench.datagen import export_document, with_telling_phrases, write_json
from bench.inproc import prepared, quiet_logging, settings_for
from daemon.ingest.pipeline import Pipeline
from daemon.live.service import Daemon


def _report(profile: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top // 2)
    return out.getvalue()


def profile_export(work: Path, pairs: int, top: int) -> str:
    sessions = max(1, round(pairs * 126 / 12_480))
    document = export_document(sessions=sessions, pairs=pairs, answer_length=2_750)
    export = write_json(work / "database_qa_export_profile.json", with_telling_phrases(document))
    root = make_root(work / "root")
    target = root / "outbox" / "claude" / export.name
    os.link(export, target)
    profile = cProfile.Profile(time.process_time)
    with prepared(root) as (settings, db):
        pipeline = Pipeline(settings, db)
        gc.collect()
        started = time.perf_counter()
        profile.enable()
        outcome = pipeline.process(target)
        profile.disable()
        wall = time.perf_counter() - started
    head = f"export: {outcome.outcome}, {outcome.result.stored:,} pairs, wall {wall:.2f} s\n"
    return head + _report(profile, top)


def profile_burst(work: Path, files: int, top: int) -> str:
    root = burst_scenario.fresh_root(work / "root")
    payloads = burst_scenario.burst_files(files)
    profile = cProfile.Profile(time.process_time)
    original = Daemon._work

    def profiled_work(self: Daemon) -> None:
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    Daemon._work = profiled_work  # type: ignore[method-assign]
    daemon = Daemon(settings_for(root))
    try:
        daemon.start()
        daemon.ready.wait(60)
        watch = StatusWatch(root, poll=0.01)
        watch.wait(lambda view: True, timeout=30)
        started = time.perf_counter()
        for rel, data in payloads:
            drop(root / rel, data)
        seen = watch.wait_pairs(burst_scenario.PAIRS_PER_FILE * files, timeout=1200)
    finally:
        daemon.stop()
        Daemon._work = original  # type: ignore[method-assign]
    head = f"burst: {files} files in {seen - started:.2f} s ({files / (seen - started):.1f}/s)\n"
    return head + _report(profile, top)


def profile_restart(work: Path, files: int, top: int) -> str:
    root = work / "root"
    restart_scenario.build_tree(root, files)
    daemon = Daemon(settings_for(root))
    profile = cProfile.Profile(time.process_time)
    started = time.perf_counter()
    profile.enable()
    daemon.start()
    daemon.ready.wait(300)
    profile.disable()
    wall = time.perf_counter() - started
    daemon.stop()
    return f"restart over {files:,} files: ready in {wall:.2f} s\n" + _report(profile, top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("what", choices=("export", "burst", "restart"))
    parser.add_argument("--pairs", type=int, default=12_480, help="export size")
    parser.add_argument("--files", type=int, default=None, help="burst or restart files")
    parser.add_argument("--top", type=int, default=40, help="functions listed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="inboxd-profile-") as tmp:
        work = Path(tmp)
        quiet_logging(work / "log.jsonl")
        if args.what == "export":
            text = profile_export(work, args.pairs, args.top)
        elif args.what == "burst":
            text = profile_burst(work, args.files or 300, args.top)
        else:
            text = profile_restart(work, args.files or 2_000, args.top)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
