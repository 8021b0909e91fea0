"""Scenario 8 (issue 17): the dashboard. Its overview at a million pairs, and what serving
it costs the daemon.

1. A database filled directly (``fill_stored_pairs``: 1,000,000 pairs; 43 sessions of five
   indicators assigned to droid, so the coverage and gap figures have work to do) served by
   ``inboxd serve --http 127.0.0.1:0`` in a process of its own; the overview fetched over
   HTTP again and again (the first request counts the tally; the next ones read only what
   changed): the median time to the whole page, and its weight with its stylesheet and
   script. Targets: <= 100 ms, <= 200 KB.
2. The burst of scenario 2 into ``inboxd run`` with and without ``--http``, runs taken in
   turns; with the server, one open page is simulated as ``static/live.js`` behaves (asks
   ``/api/mark`` every 400 ms, fetches the page again when it changed). The ratio of the two
   rates; target: no measurable cost (within the runs' own spread).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench.burst import PAIRS_PER_FILE, _burst, burst_files, fresh_root
from bench.common import INBOXD, Config, Row, child_env, log, median, running_daemon
from bench.datasets import database

SESSIONS, INDICATORS_PER_SESSION = 43, 5  # as fill_stored_pairs spreads its 215 indicators
RENDER_TARGET_MS = 100
WEIGHT_TARGET_KB = 200
POLL_SECONDS = 0.4  # as static/live.js


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def _listening(log_file: Path, timeout: float = 120) -> str:
    """The dashboard's address, from its ``web.listening`` event."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_file.exists():
            for line in log_file.read_bytes().splitlines():
                if b'"web.listening"' in line:
                    return str(orjson.loads(line)["url"])
        time.sleep(0.05)
    raise RuntimeError(f"no web.listening in {log_file}")


def assign_sessions(db_path: Path) -> None:
    """Sessions 1..43 assigned to droid, each with the five indicators the pairs name."""
    with sqlite3.connect(db_path) as connection:
        connection.executemany(
            "INSERT INTO sessions (session_number, agent, title, target_per_indicator, origin,"
            " assigned_at) VALUES (?, 'droid', ?, 100, 'assignment', '2025-11-01 09:00:00')",
            [(n, f"Session {n}") for n in range(1, SESSIONS + 1)],
        )
        connection.executemany(
            "INSERT INTO session_indicators (session_number, position, indicator_name)"
            " VALUES (?, ?, ?)",
            [
                (n, p, f"Indicator {(n - 1) * INDICATORS_PER_SESSION + p + 1:03d}")
                for n in range(1, SESSIONS + 1)
                for p in range(INDICATORS_PER_SESSION)
            ],
        )


def overview_rows(cfg: Config, work: Path) -> tuple[list[Row], dict[str, Any]]:
    root = work / "served"
    db_path = database(root, cfg.web_pairs)
    assign_sessions(db_path)
    out = work / "serve.out"
    with out.open("wb") as sink:
        server = subprocess.Popen(
            [str(INBOXD), "serve", "--root", str(root), "--http", "127.0.0.1:0"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
    try:
        url = _listening(root / "var" / "log" / "inboxd.jsonl")
        started = time.perf_counter()
        page = _get(url)
        first = time.perf_counter() - started
        samples = []
        for _ in range(cfg.web_renders):
            started = time.perf_counter()
            page = _get(url)
            samples.append(time.perf_counter() - started)
        assets = re.findall(rb'(?:src|href)="(/static/[^"]+)"', page)
        weight = len(page) + sum(len(_get(url + a.decode().lstrip("/"))) for a in assets)
    finally:
        server.terminate()
        server.wait(60)
    ms = median(samples) * 1000
    log(
        f"web: overview at {cfg.web_pairs:,} pairs: median {ms:.1f} ms over {len(samples)}, "
        f"first {first * 1000:.0f} ms (the tally's full count); {weight / 1024:.1f} KB"
    )
    rows = [
        Row(
            "web",
            f"overview page over HTTP, {cfg.web_pairs:,} pairs stored, "
            f"{SESSIONS} sessions [median of {len(samples)}]",
            ms,
            "ms",
            target=f"≤ {RENDER_TARGET_MS} ms",
            met=ms <= RENDER_TARGET_MS,
            show_ratio=False,
            samples=[s * 1000 for s in samples],
            note=f"the first request counts the tally in full: {first * 1000:.0f} ms",
        ),
        Row(
            "web",
            "overview page weight, with its stylesheet and script",
            weight / 1024,
            "KB",
            target=f"≤ {WEIGHT_TARGET_KB} KB",
            met=weight <= WEIGHT_TARGET_KB * 1024,
            show_ratio=False,
        ),
    ]
    return rows, {"first_ms": first * 1000, "samples_ms": [s * 1000 for s in samples]}


class OpenPage:
    """One browser tab on the overview, as ``static/live.js`` polls."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fetches = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-open-page", daemon=True)

    def _poll(self) -> None:
        mark = None
        while not self._stop.wait(POLL_SECONDS):
            try:
                now = orjson.loads(_get(self.url + "api/mark"))["mark"]
                if now != mark:
                    _get(self.url)
                    mark = now
                    self.fetches += 1
            except OSError:
                continue

    def __enter__(self) -> OpenPage:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def burst_rates(cfg: Config, work: Path) -> tuple[list[float], list[float], list[int]]:
    files = burst_files(cfg.burst_files)
    plain: list[float] = []
    served: list[float] = []
    fetches: list[int] = []
    for r in range(cfg.burst_runs):
        root = fresh_root(work / f"plain-{r}")
        with running_daemon(root, root / "daemon.out") as daemon:
            daemon.wait_ready()
            seconds, _ = _burst(root, files, timeout=600)
        plain.append(len(files) / seconds)
        root = fresh_root(work / f"http-{r}")
        with running_daemon(root, root / "daemon.out", args=("--http", "127.0.0.1:0")) as daemon:
            daemon.wait_ready()
            with OpenPage(_listening(root / "var" / "log" / "inboxd.jsonl")) as page:
                seconds, _ = _burst(root, files, timeout=600)
            fetches.append(page.fetches)
        served.append(len(files) / seconds)
        log(
            f"web: burst run {r + 1}/{cfg.burst_runs}: {plain[-1]:.0f} files/s without the "
            f"server, {served[-1]:.0f} with it and an open page ({fetches[-1]} page fetches)"
        )
    return plain, served, fetches


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    work = cfg.work / "web"
    work.mkdir(parents=True, exist_ok=True)
    rows, details = overview_rows(cfg, work)
    plain, served, fetches = burst_rates(cfg, work)
    shared["web"] = {**details, "burst_plain": plain, "burst_http": served, "fetches": fetches}
    ours, base = median(served), median(plain)
    spread = (max(plain) - min(plain)) / base if base else 0.0
    rows.append(
        Row(
            "web",
            f"{cfg.burst_files:,} files x {PAIRS_PER_FILE} pairs into `inboxd run --http` with "
            f"an open page, vs without the server [median of {cfg.burst_runs}, in turns]",
            ours,
            "files/s",
            base,
            "`inboxd run` without --http",
            "no measurable cost",
            ours >= base * (1 - max(spread, 0.05)),
            samples=served,
            baseline_samples=plain,
            note=f"the runs without the server spread by {spread:.0%} among themselves",
        )
    )
    return rows
