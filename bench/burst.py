"""Scenario 2: 1,000 small files written then renamed into a running daemon, end to end.

Timed from the first drop to the moment the agent's ``status.json`` shows every pair; the
same for a process-per-file watcher (``bench/perfile_watcher.py``, what ``watchmedo
shell-command --wait`` does) on the first files of the same set.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    INBOXD,
    PYTHON,
    Config,
    Row,
    StatusWatch,
    child_env,
    drop,
    log,
    make_root,
    median,
    running_daemon,
)
from bench.datagen import answer_pool, small_qa_document
from bench.hosts import postgres_server

PAIRS_PER_FILE = 20
SESSION_FOLDERS = 40
BENCH = Path(__file__).resolve().parent


def burst_files(count: int) -> list[tuple[str, bytes]]:
    """(path inside the root, content) of the burst: 20 pairs a file, ~1,000-char answers."""
    pool = answer_pool(257, 1_000, seed=5)
    return [
        (
            f"outbox/droid/session_{1 + i % SESSION_FOLDERS:02d}/part_{i:04d}.json",
            orjson.dumps(small_qa_document(i, pairs=PAIRS_PER_FILE, pool=pool)),
        )
        for i in range(count)
    ]


def fresh_root(path: Path) -> Path:
    root = make_root(path)
    for n in range(1, SESSION_FOLDERS + 1):  # folders exist before the burst, as an agent's
        (root / "outbox" / "droid" / f"session_{n:02d}").mkdir()
    return root


def _burst(root: Path, files: list[tuple[str, bytes]], timeout: float) -> tuple[float, float]:
    """Drop every file; seconds to the status showing all pairs, and seconds spent dropping."""
    watch = StatusWatch(root)
    watch.wait(lambda view: True, timeout=30)  # the status before the burst
    started = time.perf_counter()
    for rel, data in files:
        drop(root / rel, data)
    dropped = time.perf_counter() - started
    seen = watch.wait_pairs(PAIRS_PER_FILE * len(files), timeout)
    return seen - started, dropped


def daemon_burst(
    root: Path, files: list[tuple[str, bytes]], env: dict[str, str] | None = None
) -> tuple[float, float, list[str]]:
    with running_daemon(root, root / "daemon.out", env=env) as daemon:
        daemon.wait_ready()
        seconds, dropped = _burst(root, files, timeout=600)
        errors = list(daemon.errors)
    return seconds, dropped, errors


def perfile_burst(root: Path, files: list[tuple[str, bytes]]) -> float:
    subprocess.run(
        [str(INBOXD), "init", "--root", str(root)],
        env=child_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    watcher = subprocess.Popen(
        [PYTHON, str(BENCH / "perfile_watcher.py"), str(root)],
        stdout=subprocess.PIPE,
        env=child_env(),
    )
    try:
        assert watcher.stdout is not None
        if watcher.stdout.readline().strip() != b"ready":
            raise RuntimeError("the per-file watcher did not start")
        seconds, _ = _burst(root, files, timeout=60 + 10 * len(files))
    finally:
        watcher.terminate()
        watcher.wait(30)
    return seconds


ONE_BY_ONE = {"INBOXD_GROUP_MAX_FILES": "1"}  # a file per transaction, as before issue 16


def _rates(
    cfg: Config,
    files: list[tuple[str, bytes]],
    label: str,
    server: str | None,
    env: dict[str, str],
    work: Path,
) -> tuple[list[float], list[dict[str, Any]]]:
    """Files per second of each run of the burst into a live daemon with these settings."""
    rates, details = [], []
    for r in range(cfg.burst_runs):
        log(f"burst ({label}): {len(files)} files into `inboxd run`, run {r + 1}/{cfg.burst_runs}")
        root = fresh_root(work / f"{r}")
        with database_url(server, root) as url:
            seconds, dropped, errors = daemon_burst(
                root, files, child_env(**env, INBOXD_DATABASE_URL=url)
            )
        rates.append(len(files) / seconds)
        details.append({"seconds": seconds, "dropping": dropped, "errors": errors[:5]})
        log(
            f"burst ({label}): {seconds:.2f} s, {len(files) / seconds:.1f} files/s "
            f"(dropping took {dropped:.2f} s){'; ERRORS' if errors else ''}"
        )
    return rates, details


@contextmanager
def database_url(server: str | None, root: Path) -> Iterator[str]:
    """SQLite in the run's root, or a fresh PostgreSQL database on ``server``."""
    if server is None:
        yield f"sqlite:///{root / 'var' / 'inboxd.db'}"
        return
    from tests.conftest import fresh_postgres_database

    yield from fresh_postgres_database(server)


def _row(
    cfg: Config,
    files: int,
    engine: str,
    grouped: list[float],
    one_by_one: list[float],
    goal: float,
    errors: bool,
) -> Row:
    ours, base = median(grouped), median(one_by_one)
    return Row(
        "burst",
        f"{files:,} files x {PAIRS_PER_FILE} pairs, write+rename into `inboxd run` on {engine}, "
        f"first drop -> status shows all [median of {cfg.burst_runs}]",
        ours,
        "files/s",
        base,
        "the same daemon, a file per transaction (group_max_files = 1)",
        f"≥ {goal:,.0f} files/s",
        ours >= goal,
        samples=grouped,
        baseline_samples=one_by_one,
        note="group commit against one commit per file, in turns in the same run"
        + ("; errors in the daemon log" if errors else ""),
    )


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    files = burst_files(cfg.burst_files)
    work = cfg.work / "burst"
    rows: list[Row] = []
    server, why = postgres_server()
    engines: list[tuple[str, str | None, float]] = [("SQLite", None, 1_000.0)]
    if server is None:
        rows.append(Row("burst", f"burst on PostgreSQL: {why}", None, "files/s"))
    else:
        engines.append(("PostgreSQL", server, 500.0))
    for engine, on_server, goal in engines:
        place = work / engine
        grouped, details = _rates(cfg, files, f"{engine}, grouped", on_server, {}, place / "g")
        single, single_details = _rates(
            cfg, files, f"{engine}, one by one", on_server, ONE_BY_ONE, place / "s"
        )
        shared[f"burst_{engine}"] = {"grouped": details, "one_by_one": single_details}
        errors = any(d["errors"] for d in details + single_details)
        rows.append(_row(cfg, len(files), engine, grouped, single, goal, errors))
    subset = files[: cfg.perfile_files]
    log(f"burst: process-per-file watcher on the first {len(subset)} files")
    base_seconds = perfile_burst(fresh_root(work / "perfile"), subset)
    base_rate = len(subset) / base_seconds
    log(f"burst: per-file watcher {base_seconds:.1f} s, {base_rate:.2f} files/s")
    ours = rows[0].inboxd or 0.0
    rows.append(
        Row(
            "burst",
            f"the SQLite burst against a process per file (first {len(subset)} files)",
            ours,
            "files/s",
            base_rate,
            f"process per file, first {len(subset)} files",
            "≥ 10x",
            ours >= 10 * base_rate,
            note=(
                "baseline: bench/perfile_watcher.py = watchmedo shell-command --wait "
                "running `inboxd process` per file (watchmedo is not installed)"
            ),
        )
    )
    return rows
