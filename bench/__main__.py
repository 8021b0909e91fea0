"""``python -m bench`` (``make bench``): the performance suite of issue 6, as one table,
with issue 7's several-hosts figures (``hosts``: 1 vs 2 daemons, PostgreSQL and SQLite).

Every scenario generates its data deterministically into a temporary folder, measures
inboxd and, where there is one, its baseline in the same run, and reports medians. Targets
are the issue's "Done when"; nothing here fails on a time (the exit code is 0 unless a
scenario could not run). Progress goes to stderr, the table to stdout, everything to JSON.

    python -m bench                 # the full run (durations: docs/performance.md)
    python -m bench --quick         # smaller data, fewer repeats
    python -m bench --only export   # one scenario (repeatable)
    python -m bench --only cli      # the command line's start (inboxd --help)
    python -m bench --only hosts    # the several-daemon rows of docs/performance.md
    python -m bench --only datasets # issue 15's snapshots: Parquet and DuckDB vs a baseline
    python -m bench --only status   # issue 16's status write and `inboxd status` at 1M pairs
    python -m bench --only web      # issue 17's dashboard: the overview at 1M pairs, the burst
                                    # with and without the HTTP server
    python -m bench --only alerts   # issue 17: a burst with notifications stuck vs without
    python -m bench --only neardup  # issue 18's near-duplicates: import on/off, query, rebuild
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

# inboxd's settings read INBOXD_* variables: the benchmark measures the defaults.
for _name in [n for n in os.environ if n.startswith("INBOXD_")]:
    del os.environ[_name]

from bench import (  # noqa: E402
    alerts,
    burst,
    cli,
    datasets,
    export,
    hosts,
    latency,
    memory,
    neardup,
    restart,
    status,
    web,
)
from bench.common import REPO, Config, Row, log  # noqa: E402
from bench.inproc import quiet_logging  # noqa: E402
from bench.table import render  # noqa: E402

Scenario = Callable[[Config, dict[str, Any]], list[Row]]
SCENARIOS: dict[str, Scenario] = {
    "export": export.run,
    "cli": cli.run,
    "burst": burst.run,
    "latency": latency.run,
    "memory": memory.run,
    "restart": restart.run,
    "hosts": hosts.run,
    "datasets": datasets.run,
    "status": status.run,
    "web": web.run,
    "alerts": alerts.run,
    "neardup": neardup.run,
}


def make_config(quick: bool, work: Path) -> Config:
    if quick:
        return Config(
            quick=True,
            work=work,
            repeats=3,
            slow_repeats=1,
            export_pairs=3_120,
            export_sessions=32,
            export_answer_length=2_750,
            export_runs=3,
            cli_runs=7,
            burst_files=300,
            burst_runs=3,
            perfile_files=5,
            latency_drops=40,
            latency_baseline_runs=3,
            memory_bytes=100 * 1024 * 1024,
            memory_runs=1,
            memory_shape_pairs=20_000,  # 24 MB: over stream_min_bytes still
            restart_files=1_000,
            restart_runs=3,
            hosts_files=400,
            hosts_pairs=5,
            hosts_indicators=20,
            datasets_pairs=20_000,
            datasets_large_pairs=0,
            status_pairs=100_000,
            status_write_runs=5,
            status_command_runs=7,
            web_pairs=100_000,
            web_renders=10,
            neardup_stored=50_000,
            neardup_rebuilt=20_000,
            neardup_queries=300,
        )
    return Config(
        quick=False,
        work=work,
        repeats=3,
        slow_repeats=2,
        export_pairs=12_480,
        export_sessions=126,
        export_answer_length=2_750,
        export_runs=5,
        cli_runs=11,
        burst_files=1_000,
        burst_runs=3,
        perfile_files=12,
        latency_drops=200,
        latency_baseline_runs=5,
        memory_bytes=1024 * 1024 * 1024,
        memory_runs=1,
        restart_files=10_000,
        restart_runs=3,
        hosts_files=2_000,
        hosts_pairs=5,
        hosts_indicators=20,
        datasets_pairs=200_000,
        datasets_large_pairs=1_000_000,
        status_pairs=1_000_000,
        status_write_runs=9,
        status_command_runs=9,
    )


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        mem = f"{int(first.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    return {
        "git": _git(),
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory": mem,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "system": platform.platform(),
        "load_at_start": os.getloadavg(),
    }


def _git() -> dict[str, Any]:
    """The commit measured, and whether daemon/ or handlers/ differed from it."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("status", "--porcelain", "--", "daemon", "handlers").splitlines()
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "modified_in_daemon_or_handlers": [line[3:] for line in changed],
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller data and fewer repeats: a fast check"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario ({', '.join(SCENARIOS)}); repeatable",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("/tmp/inboxd-bench.json"),
        help="where to write the results as JSON (default: %(default)s)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder for the generated data (default: a new temporary one)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the generated data and databases (for a look afterwards)",
    )
    parser.add_argument(
        "--show",
        type=Path,
        metavar="JSON",
        help="print the table of an earlier run's results file, run nothing",
    )
    return parser.parse_args(argv)


def show(path: Path) -> int:
    """The table again, from a results file."""
    result = orjson.loads(path.read_bytes())
    fields = set(Row.__dataclass_fields__)
    rows = [Row(**{k: v for k, v in row.items() if k in fields}) for row in result["rows"]]
    print(render(rows, result.get("notes", [])))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.show:
        return show(args.show)
    work = args.work or Path(tempfile.mkdtemp(prefix="inboxd-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg = make_config(args.quick, work.resolve())
    quiet_logging(cfg.work / "inprocess-log.jsonl")
    names = args.only or list(SCENARIOS)
    info = machine()
    log(
        f"{'quick' if cfg.quick else 'full'} run of {', '.join(names)} in {cfg.work}; "
        f"load average {info['load_at_start'][0]:.2f}"
    )
    shared: dict[str, Any] = {}
    rows: list[Row] = []
    timings: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    started = time.perf_counter()
    for name in names:
        began, load = time.perf_counter(), os.getloadavg()[0]
        try:
            rows.extend(SCENARIOS[name](cfg, shared))
        except Exception as exc:
            failed.append(name)
            log(f"{name} failed: {exc!r}\n{traceback.format_exc()}")
            rows.append(Row(name, f"FAILED: {exc!r}"[:200], None, ""))
        timings[name] = {
            "seconds": round(time.perf_counter() - began, 1),
            "load_before": load,
            "load_after": os.getloadavg()[0],
        }
        log(f"{name} done in {timings[name]['seconds']:.0f} s")
    total = time.perf_counter() - started
    info["load_at_end"] = os.getloadavg()
    notes = [
        f"{'--quick' if cfg.quick else 'full run'}: {total / 60:.1f} min on {info['cpus']} CPUs "
        f"({info['cpu']}), Python {info['python']}, SQLite {info['sqlite']}, inboxd "
        f"{info['git']['commit']}"
        f"{' + local changes' if info['git']['modified_in_daemon_or_handlers'] else ''}; "
        "load average "
        f"{info['load_at_start'][0]:.2f} at start, {info['load_at_end'][0]:.2f} at the end "
        "(other work on the machine makes every figure slower)",
        "ratio = inboxd / baseline (times: lower is better; rates: higher is better)",
    ]
    print(render(rows, notes))
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if cfg.quick else "full",
        "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": info,
        "seconds": round(total, 1),
        "scenarios": timings,
        "rows": [row.as_dict() for row in rows],
        "notes": notes,
        "details": _jsonable(shared),
        "failed": failed,
        "work": str(cfg.work),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2, default=str))
    log(f"results written to {args.out}")
    if args.keep or args.work:
        log(f"data kept in {cfg.work}")
    else:
        shutil.rmtree(cfg.work, ignore_errors=True)
    return 1 if failed else 0


def _jsonable(value: Any) -> Any:
    """Measured runs and paths as plain data."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, Path):
        return str(value)
    return value


if __name__ == "__main__":
    sys.exit(main())
