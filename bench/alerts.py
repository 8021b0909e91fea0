"""Notifications cost a burst nothing: the same burst into `inboxd run`, half its files
rejected (an alert each), without notifications and with them sent to a webhook that accepts
and never answers.

Before the burst one file is rejected (in both kinds of run); with notifications the burst
starts only once that message is stuck in the webhook, so the sender is stuck for the whole
burst. Timed from the first drop to the status showing every pair and every rejection. The
two kinds of run alternate (without, with, without ...) on fresh roots; medians. The ratio is
with / without.
"""

from __future__ import annotations

import os
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


def _cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system, all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one_burst(
    root: Path, files: list[tuple[str, bytes]], env: dict[str, str], hook: _HungWebhook
) -> tuple[float, float]:
    """Seconds from the first drop to the status showing all, and the daemon's CPU seconds."""
    good = sum(data != REJECTED for _, data in files)
    bad = len(files) - good + 1
    stuck = hook.requests + 1
    with running_daemon(root, root / "daemon.out", env=env) as daemon:
        daemon.wait_ready()
        watch = StatusWatch(root)
        # one rejection first (in both kinds of run): with notifications, its message is
        # sent and the sender stays stuck in that request during the whole burst
        drop(root / "outbox/droid/first.json", REJECTED)
        watch.wait(lambda view: len(view.get("rejected", [])) == 1, timeout=30)
        deadline = time.monotonic() + 60
        while "INBOXD_NOTIFY_URLS" in env and hook.requests < stuck:
            if time.monotonic() > deadline:
                raise RuntimeError("the notification of the first rejection never came")
            time.sleep(0.05)
        started, cpu = time.perf_counter(), _cpu_seconds(daemon.proc.pid)
        for rel, data in files:
            drop(root / rel, data)
        seen = watch.wait(
            lambda view: (
                view.get("pairs", {}).get("imported", 0) >= good * PAIRS_PER_FILE
                and len(view.get("rejected", [])) >= bad
            ),
            timeout=600,
        )
        cpu = _cpu_seconds(daemon.proc.pid) - cpu
    return seen - started, cpu


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    files = [
        (rel, REJECTED if i % 2 else data)
        for i, (rel, data) in enumerate(burst_files(cfg.burst_files))
    ]
    work = cfg.work / "alerts"
    hook = _HungWebhook()
    off: list[float] = []
    on: list[float] = []
    cpu: dict[str, list[float]] = {"without": [], "with": []}
    try:
        for r in range(cfg.burst_runs):
            for label, runs, env in (
                ("without", off, child_env()),
                ("with", on, child_env(INBOXD_NOTIFY_URLS=hook.url)),
            ):
                seconds, used = _one_burst(fresh_root(work / f"{label}-{r}"), files, env, hook)
                runs.append(seconds)
                cpu[label].append(used)
                log(
                    f"alerts: {len(files)} files {label} notifications: {seconds:.2f} s, "
                    f"daemon CPU {used:.2f} s"
                )
    finally:
        hook.close()
    shared["alerts"] = {"without": off, "with": on, "cpu": cpu, "stuck_requests": hook.requests}
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
            note=(
                f"the sender stuck in a request during each burst ({hook.requests} in all); "
                "a rejection told first, in both kinds of run"
            ),
            cpu=median(cpu["with"]),
            baseline_cpu=median(cpu["without"]),
            samples=on,
            baseline_samples=off,
        )
    ]
