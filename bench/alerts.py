"""Notifications cost a burst nothing: the same burst into `inboxd run`, half its files
rejected (an alert each), without notifications and with them sent to a webhook that accepts
and never answers, so the sender is stuck in its first request for the whole burst.

Timed from the first drop to the status showing every pair and every rejection. The two
kinds of run alternate (off, on, off, on ...) on fresh roots; medians. The ratio is with / without.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.burst import PAIRS_PER_FILE, burst_files, fresh_root
from bench.common import Config, Row, StatusWatch, child_env, drop, log, median, running_daemon

REJECTED = b'{"hello": "not a Q&A file"}'


class _HungWebhook:
    """Accepts every POST and never answers (until closed)."""

    def __init__(self) -> None:
        self.requests = 0
        self.released = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.requests += 1
                hook.released.wait(3600)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # apprise gives up after 4 s by default: here it waits as long as the hook
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook?rto=3600"

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def _one_burst(root: Path, files: list[tuple[str, bytes]], env: dict[str, str]) -> float:
    good = sum(data != REJECTED for _, data in files)
    bad = len(files) - good
    with running_daemon(root, root / "daemon.out", env=env) as daemon:
        daemon.wait_ready()
        watch = StatusWatch(root)
        watch.wait(lambda view: True, timeout=30)
        started = time.perf_counter()
        for rel, data in files:
            drop(root / rel, data)
        seen = watch.wait(
            lambda view: (
                view.get("pairs", {}).get("imported", 0) >= good * PAIRS_PER_FILE
                and len(view.get("rejected", [])) >= bad
            ),
            timeout=600,
        )
    return seen - started


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    files = [
        (rel, REJECTED if i % 2 else data)
        for i, (rel, data) in enumerate(burst_files(cfg.burst_files))
    ]
    work = cfg.work / "alerts"
    hook = _HungWebhook()
    off: list[float] = []
    on: list[float] = []
    try:
        for r in range(cfg.burst_runs):
            for label, runs, env in (
                ("without", off, child_env()),
                ("with", on, child_env(INBOXD_NOTIFY_URLS=hook.url)),
            ):
                seconds = _one_burst(fresh_root(work / f"{label}-{r}"), files, env)
                runs.append(seconds)
                log(f"alerts: {len(files)} files {label} notifications: {seconds:.2f} s")
    finally:
        hook.close()
    shared["alerts"] = {"without": off, "with": on, "stuck_requests": hook.requests}
    return [
        Row(
            "alerts",
            f"{len(files):,} files, half rejected (an alert each), into `inboxd run` with "
            f"notifications to a webhook that never answers [median of {cfg.burst_runs}]",
            median(on),
            "s",
            median(off),
            "no notifications",
            "≈ 1x",
            note=f"the sender stuck in {hook.requests} request(s) (one per run) the whole time",
            samples=on,
            baseline_samples=off,
        )
    ]
