"""Shared benchmark plumbing: result rows, timing, child processes, roots, status polling."""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INBOXD = BIN / "inboxd"
PYTHON = sys.executable
AGENTS = ("droid", "claude", "gemini")


@dataclass
class Row:
    """One line of the table. ``ratio`` is always inboxd / baseline."""

    scenario: str
    measure: str
    inboxd: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""
    show_ratio: bool = True
    cpu: float | None = None  # CPU seconds (user + system) where measured: less sensitive
    baseline_cpu: float | None = None  # to other load on the machine than wall time
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.inboxd is None or not self.baseline or not self.show_ratio:
            return None
        return self.inboxd / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class Config:
    """What a run does: the default (full) run, or ``--quick``."""

    quick: bool
    work: Path
    repeats: int  # inboxd's runs, and the fast baselines'
    slow_repeats: int  # runs of the slow baselines (regex reference, users' script)
    export_pairs: int
    export_sessions: int
    export_answer_length: int
    export_runs: int  # rounds of inboxd and the shared reference, in turns
    cli_runs: int  # runs of each command of the cli scenario
    burst_files: int
    burst_runs: int
    perfile_files: int  # the process-per-file baseline runs on the first N burst files
    latency_drops: int
    latency_baseline_runs: int
    memory_bytes: int
    memory_runs: int
    restart_files: int
    restart_runs: int
    hosts_files: int  # the several-hosts backlog: files, pairs a file, indicators
    hosts_pairs: int
    hosts_indicators: int
    datasets_pairs: int  # the snapshot compared with the baseline (Parquet and DuckDB)
    datasets_large_pairs: int  # the large Parquet snapshot's memory; 0: not run
    status_pairs: int  # stored pairs under the status write and ``inboxd status``
    status_write_runs: int  # status writes timed, each after one new file
    status_command_runs: int  # whole ``inboxd status`` processes, each way
    users_noindex: bool = True
    web_pairs: int = 1_000_000  # the dashboard's overview is rendered over this many pairs
    web_renders: int = 30  # overview requests timed (after the first)
    memory_shape_pairs: int = 200_000  # each Q&A JSON shape's file (issue 16: 236 MB)
    neardup_stored: int = 1_000_000  # pairs stored and signed for the near-duplicate query
    # pairs `inboxd dedup --rebuild` indexes (1,000,000 took longer than the run can wait: its
    # candidates grow with the index on this template-heavy data; docs/performance.md)
    neardup_rebuilt: int = 200_000
    neardup_queries: int = 1_000  # single-pair searches timed against them


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): p99 of 200 samples is the 198th."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def repeat(times: int, run: Callable[[int], float]) -> list[float]:
    """``run(i)`` returns its own measured seconds (setup outside the timed part)."""
    return [run(i) for i in range(times)]


def make_root(path: Path) -> Path:
    """A fresh inboxd tree (inbox/ and outbox/ for every default agent)."""
    if path.exists():
        shutil.rmtree(path)
    for box in ("inbox", "outbox"):
        for agent in AGENTS:
            (path / box / agent).mkdir(parents=True)
    return path


# Where the children's bytecode is kept: an installed inboxd has its modules compiled once,
# but a shell with PYTHONDONTWRITEBYTECODE (as on the project's machines) would have every
# child compile the package's own modules again at each start.
PYCACHE = Path(tempfile.gettempdir()) / "inboxd-bench-pycache"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for inboxd children: no INBOXD_* from the caller's shell, and
    bytecode written and read (``PYCACHE``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXD_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


TIME = Path("/usr/bin/time")


@dataclass
class Measured:
    """A finished child: wall and CPU seconds, its own peak RSS (MiB), exit code, output."""

    seconds: float
    peak_rss_mib: float
    returncode: int
    output: Path
    cpu_seconds: float = 0.0

    def check(self, what: str) -> Measured:
        if self.returncode not in (0,):
            tail = self.output.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} exited {self.returncode}:\n{tail}")
        return self


def run_measured(
    cmd: Sequence[str],
    *,
    output: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600,
) -> Measured:
    """Run a child to its end: wall time, and its own peak RSS.

    Peak RSS comes from GNU time (``%M``) when there is one: a child forked straight from
    this (large) process inherits its high-water mark at exec, so ``wait4``'s figure can be
    this process's size rather than the child's; that is the fallback, an upper bound.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    rss_file = output.with_name(output.name + ".maxrss")
    wrapped = [str(TIME), "-o", str(rss_file), "-f", "%M", *cmd] if TIME.exists() else list(cmd)
    with open(output, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            wrapped,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env or child_env(),
            cwd=cwd,
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_kib = float(usage.ru_maxrss)
    if TIME.exists():
        with suppress(OSError, ValueError, IndexError):
            peak_kib = float(rss_file.read_text().split()[-1])
    return Measured(
        seconds, peak_kib / 1024, proc.returncode, output, usage.ru_utime + usage.ru_stime
    )


class StatusWatch:
    """Polls ``inbox/<agent>/status.json`` (every ``poll`` s) until a condition holds.

    The file is replaced by rename on every write, so a new inode means a new version; it is
    read only then. The time returned is when this poller saw the version (an upper bound).
    """

    def __init__(self, root: Path, agent: str = "droid", poll: float = 0.001) -> None:
        self.path = root / "inbox" / agent / "status.json"
        self.poll = poll
        self._seen: tuple[int, int] | None = None
        self.view: dict[str, Any] = {}

    def _fresh(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        signature = (st.st_ino, st.st_mtime_ns)
        if signature == self._seen:
            return False
        try:
            self.view = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return False
        self._seen = signature
        return True

    def imported(self) -> int:
        return int(self.view.get("pairs", {}).get("imported", 0))

    def wait(self, condition: Callable[[dict[str, Any]], bool], timeout: float) -> float:
        """perf_counter() when a version satisfying ``condition`` was first seen."""
        deadline = time.perf_counter() + timeout
        while True:
            if self._fresh() and condition(self.view):
                return time.perf_counter()
            if time.perf_counter() > deadline:
                raise TimeoutError(
                    f"{self.path}: condition not met in {timeout}s "
                    f"(last pairs.imported={self.imported()})"
                )
            time.sleep(self.poll)

    def wait_pairs(self, pairs: int, timeout: float) -> float:
        return self.wait(lambda view: view.get("pairs", {}).get("imported", 0) >= pairs, timeout)


class DaemonProcess:
    """``inboxd run --root ROOT`` as a child; its JSON log read as it comes (for events)."""

    def __init__(
        self,
        root: Path,
        *,
        log: Path,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.root = root
        self.log_path = log
        self.ready_at: float | None = None
        self.errors: list[str] = []
        self._ready = threading.Event()
        self._log = open(log, "wb")  # noqa: SIM115 (closed in stop)
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(INBOXD), "run", "--root", str(root), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env or child_env(),
        )
        self._reader = threading.Thread(target=self._read, name="bench-daemon-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            if b'"event":"daemon.ready"' in line and not self._ready.is_set():
                self.ready_at = time.perf_counter()
                self._ready.set()
            elif b'"level":"error"' in line or b"Traceback" in line:
                self.errors.append(line.decode(errors="replace")[:500])

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds from the exec to the ``daemon.ready`` event."""
        deadline = time.perf_counter() + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(
                    f"daemon not ready (exit {self.proc.returncode}); see {self.log_path}"
                )
        assert self.ready_at is not None
        return self.ready_at - self.started_at

    def events(self) -> list[dict[str, Any]]:
        """Its JSON log events (complete once stopped; other lines skipped), to time by."""
        found = []
        for line in self.log_path.read_bytes().splitlines():
            with suppress(orjson.JSONDecodeError):
                found.append(orjson.loads(line))
        return found

    def stop(self, timeout: float = 60) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        self._log.close()


@contextmanager
def running_daemon(
    root: Path, log: Path, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> Iterator[DaemonProcess]:
    """``inboxd run --root ROOT ARGS``, stopped at the end."""
    daemon = DaemonProcess(root, log=log, env=env, args=args)
    try:
        yield daemon
    finally:
        daemon.stop()


def drop(path: Path, data: bytes) -> None:
    """Deliver the recommended way: write a temporary name, then rename into place."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.rename(tmp, path)


def fmt_seconds(value: float) -> str:
    if value < 0.1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def log(message: str) -> None:
    """Progress on stderr, so the table on stdout stays clean."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
