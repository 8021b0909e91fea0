"""sd_notify: the exact datagrams systemd receives, on path and abstract sockets."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.errors import ConfigError
from daemon.live.notify import Notifier


class Listener:
    """A datagram socket bound the way systemd binds NOTIFY_SOCKET."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address  # as it would appear in $NOTIFY_SOCKET

    def receive(self) -> bytes:
        return self.sock.recv(4096)

    def nothing_waiting(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return True
        finally:
            self.sock.setblocking(True)
        return False


@pytest.fixture
def path_listener() -> Iterator[Listener]:
    # A short directory: socket paths are limited to 108 bytes, pytest's tmp_path may not be.
    with tempfile.TemporaryDirectory(prefix="ntf") as folder:
        path = str(Path(folder) / "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(5)
        yield Listener(sock, path)
        sock.close()


@pytest.fixture
def abstract_listener() -> Iterator[Listener]:
    name = f"inboxd-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    yield Listener(sock, "@" + name)
    sock.close()


def test_ready_status_watchdog_stopping_on_a_path_socket(path_listener: Listener) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path_listener.address})
    assert notifier.ready()
    assert path_listener.receive() == b"READY=1"
    assert notifier.status("queue 3, last outbox/droid/a.json")
    assert path_listener.receive() == b"STATUS=queue 3, last outbox/droid/a.json"
    assert notifier.watchdog()
    assert path_listener.receive() == b"WATCHDOG=1"
    assert notifier.stopping()
    assert path_listener.receive() == b"STOPPING=1"


def test_abstract_socket_name_gets_a_leading_nul(abstract_listener: Listener) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": abstract_listener.address})
    assert notifier.ready("caught up: 12 files")
    assert abstract_listener.receive() == b"READY=1\nSTATUS=caught up: 12 files"


def test_reloading_carries_the_monotonic_time_in_microseconds(path_listener: Listener) -> None:
    notifier = Notifier(path_listener.address, clock_ns=lambda: 123_456_789_012)
    assert notifier.reloading()
    assert path_listener.receive() == b"RELOADING=1\nMONOTONIC_USEC=123456789"


def test_reloading_uses_clock_monotonic_by_default(path_listener: Listener) -> None:
    import time

    before = time.monotonic_ns() // 1000
    Notifier(path_listener.address).reloading()
    head, stamp = path_listener.receive().split(b"\n")
    assert head == b"RELOADING=1"
    assert stamp.startswith(b"MONOTONIC_USEC=")
    assert before <= int(stamp.removeprefix(b"MONOTONIC_USEC=")) <= time.monotonic_ns() // 1000


def test_extend_timeout_asks_for_more_start_time_in_microseconds(
    path_listener: Listener,
) -> None:
    assert Notifier(path_listener.address).extend_timeout(90.5)
    assert path_listener.receive() == b"EXTEND_TIMEOUT_USEC=90500000"


def test_a_status_with_newlines_stays_one_assignment(path_listener: Listener) -> None:
    Notifier(path_listener.address).status("two\nlines\nREADY=1")
    assert path_listener.receive() == b"STATUS=two lines READY=1"


def test_outside_systemd_nothing_is_sent_and_nothing_fails(path_listener: Listener) -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.status("x") is False
    assert notifier.watchdog() is False
    assert notifier.reloading() is False
    assert notifier.stopping() is False
    assert notifier.extend_timeout(60) is False
    assert notifier.watchdog_interval() is None
    assert path_listener.nothing_waiting()
    Notifier(None).ready()  # the injectable no-op


def test_an_empty_notify_socket_is_unset() -> None:
    assert not Notifier.from_environment({"NOTIFY_SOCKET": ""}).enabled


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone.sock"))
    assert notifier.ready() is False
    assert notifier.watchdog() is False


def test_an_unsupported_address_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="NOTIFY_SOCKET"):
        Notifier.from_environment({"NOTIFY_SOCKET": "vsock:2:1234"})


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    notifier = Notifier.from_environment({"WATCHDOG_USEC": "30000000"})
    assert notifier.watchdog_interval() == 15.0


def test_watchdog_pid_of_this_process_keeps_the_watchdog() -> None:
    environ = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_environment(environ).watchdog_interval() == 2.0


def test_watchdog_meant_for_another_process_is_ignored() -> None:
    environ = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier.from_environment(environ).watchdog_interval() is None
    assert Notifier.from_environment(environ, pid=os.getpid() + 1).watchdog_interval() == 2.0


@pytest.mark.parametrize("value", ["", "0", "-5", "soon"])
def test_no_or_invalid_watchdog_usec_means_no_watchdog(value: str) -> None:
    assert Notifier.from_environment({"WATCHDOG_USEC": value}).watchdog_interval() is None
