"""The daemon speaks sd_notify over a real NOTIFY_SOCKET: READY after the catch-up scan,
WATCHDOG pings only while the worker makes progress, RELOADING/READY on SIGHUP, STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Settings
from daemon.ingest.outcome import FileOutcome
from daemon.live.notify import Notifier
from daemon.live.service import Daemon
from tests.support import deliver, wait_for

INBOXD = Path(sys.executable).parent / "inboxd"


class NotifySocket:
    """A datagram socket bound where systemd would have its notify socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []

    def drain(self) -> list[str]:
        while True:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, BlockingIOError):
                break
            self.messages.append((time.monotonic(), data.decode()))
        return [m for _, m in self.messages]

    def since(self, start: float) -> list[str]:
        """The messages received after ``start`` (a ``time.monotonic()``), drained first."""
        self.drain()
        return [m for t, m in self.messages if t > start]

    def lines(self) -> list[str]:
        return [line for message in self.drain() for line in message.splitlines()]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path_factory.mktemp("sd") / "notify")
    yield sock
    sock.close()


@pytest.fixture
def daemon_process(
    settings: Settings, notify_socket: NotifySocket
) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXD_")}
    env.update(
        NOTIFY_SOCKET=str(notify_socket.path), WATCHDOG_USEC="400000", INBOXD_SETTLE_SECONDS="0.2"
    )
    with open(settings.root_path / "daemon.out", "wb") as out:
        proc = subprocess.Popen(
            [str(INBOXD), "run", "--root", str(settings.root_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_ready_after_catch_up_then_watchdog_at_the_configured_rate(
    settings: Settings, notify_socket: NotifySocket, daemon_process: subprocess.Popen[bytes]
) -> None:
    deliver(settings.root_path, "outbox/droid/session_02/sma_qa_pairs.json")  # waiting at start
    wait_for(lambda: "READY=1" in notify_socket.lines(), 20, "READY=1")
    assert (settings.root_path / "inbox/droid/status.json").read_text().count('"imported": 4')
    start = time.monotonic()
    wait_for(lambda: time.monotonic() - start > 2.0, 5, "two seconds of pings")
    notify_socket.drain()
    pings = [t for t, m in notify_socket.messages if t >= start and "WATCHDOG=1" in m]
    # WATCHDOG_USEC=0.4 s: a ping every 0.2 s (half the interval), so about 10 in 2 s
    assert 6 <= len(pings) <= 14, len(pings)
    assert any(m.startswith("STATUS=queue") for _, m in notify_socket.messages)


def test_sighup_reloads_configuration_between_reloading_and_ready(
    settings: Settings, notify_socket: NotifySocket, daemon_process: subprocess.Popen[bytes]
) -> None:
    wait_for(lambda: "READY=1" in notify_socket.lines(), 20, "READY=1")
    # a new agent, configured in inboxd.toml, takes effect on SIGHUP
    toml = settings.root_path / "inboxd.toml"
    toml.write_text('agents = ["droid", "claude", "gemini", "qa"]\n')
    deliver(
        settings.root_path,
        "outbox/droid/session_02/ema_qa_pairs.json",
        "outbox/qa/ema_qa_pairs.json",
    )
    wait_for(lambda: (settings.root_path / "inbox/claude/status.json").exists(), 10, "a status")
    daemon_process.send_signal(signal.SIGHUP)
    wait_for(lambda: "RELOADING=1" in notify_socket.lines(), 10, "RELOADING=1")
    lines = notify_socket.lines()
    reloading = lines.index("RELOADING=1")
    assert any(line.startswith("MONOTONIC_USEC=") for line in lines[reloading:])
    wait_for(lambda: "READY=1" in notify_socket.lines()[reloading:], 10, "READY=1 again")
    deliver(
        settings.root_path,
        "outbox/droid/session_02/wma_qa_pairs.jsonl",
        "outbox/qa/wma_qa_pairs.jsonl",
    )
    wait_for(
        lambda: (settings.root_path / "inbox/qa/status.json").exists(),
        10,
        "the new agent's status, written under the new configuration",
    )


def test_stopping_on_sigterm(
    settings: Settings, notify_socket: NotifySocket, daemon_process: subprocess.Popen[bytes]
) -> None:
    wait_for(lambda: "READY=1" in notify_socket.lines(), 20, "READY=1")
    daemon_process.send_signal(signal.SIGTERM)
    assert daemon_process.wait(20) == 0
    assert "STOPPING=1" in notify_socket.lines()


def test_no_watchdog_ping_while_the_worker_is_stuck(
    settings: Settings, notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = Notifier(str(notify_socket.path), watchdog_usec=200_000)
    daemon = Daemon(settings, notifier=notifier)
    release = threading.Event()
    entered = threading.Event()
    real_process = daemon.pipeline.process

    def stuck(path: Path, **kwargs: Any) -> FileOutcome:
        entered.set()
        release.wait(30)
        return real_process(path, **kwargs)

    monkeypatch.setattr(daemon.pipeline, "process", stuck)
    daemon.start()
    try:
        wait_for(lambda: "READY=1" in notify_socket.lines(), 10, "READY=1")
        deliver(settings.root_path, "outbox/droid/session_02/ema_qa_pairs.json")
        wait_for(entered.is_set, 10, "the worker to get stuck")
        notify_socket.drain()
        stuck_since = time.monotonic()
        wait_for(lambda: time.monotonic() - stuck_since > 1.0, 5, "a second of being stuck")
        late = notify_socket.since(stuck_since + 0.15)
        assert not any("WATCHDOG=1" in m for m in late), late
        release.set()
        wait_for(lambda: daemon.counts["imported"] == 1, 10, "the file after release")
        resumed = time.monotonic()
        wait_for(
            lambda: any("WATCHDOG=1" in m for m in notify_socket.since(resumed)),
            5,
            "pings again once the worker moves",
        )
    finally:
        release.set()
        daemon.stop()
