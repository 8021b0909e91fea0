"""Scenario 8 (issue 17): the dashboard. Its overview at a million pairs, and what serving
it costs the daemon.

1. A database filled directly (``fill_stored_pairs``: 1,000,000 pairs; 43 sessions of five
   indicators assigned to droid, so the coverage and gap figures have work to do) served by
   ``inboxd serve --http 127.0.0.1:0`` in a process of its own; the overview fetched over
   HTTP again and again (the first request counts the tally; the next ones read only what
   changed): the median time to the whole page, and its weight with its stylesheet and
   script. Targets: <= 100 ms, <= 200 KB.
2. The burst of scenario 2 into ``inboxd run`` without ``--http``, with it and nobody
   looking, and with it and one open page (simulated as ``static/live.js`` behaves: asks
   ``/api/mark`` every 400 ms, fetches the page again when it changed), the three taken in
   turns. The ratios to the run without; target: no measurable cost (within the spread of
   the runs without the server).
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
from bench.inproc import settings_for
from daemon.store.engine import Database

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


def rendered_in_process(root: Path, times: int) -> list[float]:
    """Seconds to build the overview's figures and render its template, in this process
    (no HTTP, no other thread): the part the page's own code decides."""
    from daemon.web.app import Pages
    from daemon.web.board import Board
    from daemon.web.chart import pairs_chart

    settings = settings_for(root)
    db = Database.for_settings(settings)
    board = Board(settings, db)
    template = Pages(board, None, None).templates.get_template("overview.html")

    def render() -> None:
        shown = board.overview()
        template.render(board=shown, chart=pairs_chart(shown["series"]), path="/", mark="")

    render()  # the tally's full count
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        render()
        samples.append(time.perf_counter() - started)
    db.dispose()
    return samples


def overview_rows(cfg: Config, work: Path) -> tuple[list[Row], dict[str, Any]]:
    root = work / "served"
    db_path = database(root, cfg.web_pairs)
    assign_sessions(db_path)
    in_process = rendered_in_process(root, cfg.web_renders)
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
    inside = median(in_process) * 1000
    log(f"web: overview rendered in process: median {inside:.1f} ms")
    rows = [
        Row(
            "web",
            f"overview figures + template in process, {cfg.web_pairs:,} pairs "
            f"[median of {len(in_process)}]",
            inside,
            "ms",
            target=f"≤ {RENDER_TARGET_MS} ms",
            met=inside <= RENDER_TARGET_MS,
            show_ratio=False,
            samples=[s * 1000 for s in in_process],
        ),
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


def _one_burst(root: Path, files: list[tuple[str, bytes]], *, http: bool, page: bool) -> float:
    """Files per second of one burst into ``inboxd run`` (with ``--http``, and an open page)."""
    args = ("--http", "127.0.0.1:0") if http else ()
    with running_daemon(root, root / "daemon.out", args=args) as daemon:
        daemon.wait_ready()
        if page:
            with OpenPage(_listening(root / "var" / "log" / "inboxd.jsonl")):
                seconds, _ = _burst(root, files, timeout=600)
        else:
            seconds, _ = _burst(root, files, timeout=600)
    return len(files) / seconds


BURST_CASES = {  # name: (--http, an open page)
    "plain": (False, False),
    "server": (True, False),
    "page": (True, True),
}


def burst_rates(cfg: Config, work: Path) -> dict[str, list[float]]:
    """Each case's rates, the cases taken in turns in every round."""
    files = burst_files(cfg.burst_files)
    rates: dict[str, list[float]] = {name: [] for name in BURST_CASES}
    for r in range(cfg.burst_runs):
        for name, (http, page) in BURST_CASES.items():
            root = fresh_root(work / f"{name}-{r}")
            rates[name].append(_one_burst(root, files, http=http, page=page))
        log(
            f"web: burst round {r + 1}/{cfg.burst_runs}: "
            + ", ".join(f"{name} {rates[name][-1]:.0f} files/s" for name in BURST_CASES)
        )
    return rates


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    work = cfg.work / "web"
    work.mkdir(parents=True, exist_ok=True)
    rows, details = overview_rows(cfg, work)
    rates = burst_rates(cfg, work)
    shared["web"] = {**details, "burst": rates}
    base = median(rates["plain"])
    spread = (max(rates["plain"]) - min(rates["plain"])) / base if base else 0.0
    for name, what in (("server", "nobody looking"), ("page", "an open page")):
        ours = median(rates[name])
        rows.append(
            Row(
                "web",
                f"{cfg.burst_files:,} files x {PAIRS_PER_FILE} pairs into `inboxd run --http`, "
                f"{what}, vs without the server [median of {cfg.burst_runs}, in turns]",
                ours,
                "files/s",
                base,
                "`inboxd run` without --http",
                "no measurable cost",
                ours >= base * (1 - max(spread, 0.05)),
                samples=rates[name],
                baseline_samples=rates["plain"],
                note=f"the runs without the server spread by {spread:.0%} among themselves",
            )
        )
    return rows
