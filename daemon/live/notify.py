"""sd_notify without a C dependency: tell systemd we are ready, alive, reloading or stopping.

The protocol is one datagram of ``KEY=VALUE`` lines sent to the AF_UNIX socket named by
``$NOTIFY_SOCKET`` (a path, or an abstract name written with a leading ``@``). Outside
systemd there is no socket and every call does nothing, so the daemon can always call it.
The environment is read only in ``Notifier.from_environment``; ``Notifier(None)`` is the
no-op to inject in tests and in ``inboxd scan``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

from daemon.errors import ConfigError
from daemon.logging import get_logger

log = get_logger("inboxd.notify")


class Notifier:
    """One daemon's line to its service manager; safe from any thread, never raises on a send."""

    def __init__(
        self,
        address: str | None,
        *,
        watchdog_usec: int | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.address = address or None
        self._target = _socket_address(self.address) if self.address else None
        self._watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._clock_ns = clock_ns  # CLOCK_MONOTONIC, the clock systemd compares with
        self._failed_once = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], *, pid: int | None = None) -> Notifier:
        """The notifier systemd set up for this process (a no-op one outside systemd).

        ``$WATCHDOG_PID``, when set, names the process the watchdog is meant for: a child
        that inherited the variables must not ping on its parent's behalf.
        """
        watchdog_usec = _positive_int(environ.get("WATCHDOG_USEC"))
        watchdog_pid = environ.get("WATCHDOG_PID")
        if watchdog_pid and _positive_int(watchdog_pid) != (os.getpid() if pid is None else pid):
            watchdog_usec = None
        return cls(environ.get("NOTIFY_SOCKET") or None, watchdog_usec=watchdog_usec)

    @property
    def enabled(self) -> bool:
        return self._target is not None

    # -- the messages the daemon sends -----------------------------------------------------
    def ready(self, status: str | None = None) -> bool:
        """Startup (or a reload) is finished: ``Type=notify`` units leave "activating" now."""
        return self.send("READY=1", *(() if status is None else (_status_line(status),)))

    def status(self, text: str) -> bool:
        """A one-line state shown by ``systemctl status``."""
        return self.send(_status_line(text))

    def watchdog(self) -> bool:
        """Alive and making progress; a missed ping past ``WatchdogSec=`` restarts us."""
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        """A reload started; systemd waits for the next READY=1 (it needs the timestamp)."""
        return self.send("RELOADING=1", f"MONOTONIC_USEC={self._clock_ns() // 1000}")

    def extend_timeout(self, seconds: float) -> bool:
        """Still starting (a long catch-up): push ``TimeoutStartSec=`` this far from now."""
        return self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def stopping(self) -> bool:
        """Shutdown started: systemd shows "deactivating" instead of a hang."""
        return self.send("STOPPING=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half of ``WatchdogSec=`` as sd_watchdog_enabled(3) advises."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    # -- the wire --------------------------------------------------------------------------
    def send(self, *lines: str) -> bool:
        """Send one datagram; False (and one warning) when there is no one to hear it."""
        if self._target is None:
            return False
        payload = "\n".join(lines).encode("utf-8")
        try:  # a socket per message, as sd_notify(3) does: nothing to keep open or lock
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload, self._target)
        except OSError as exc:
            if not self._failed_once:  # the manager went away: say it once, go on
                self._failed_once = True
                log.warning("notify.failed", socket=self.address, error=repr(exc))
            return False
        return True


def _socket_address(address: str) -> str | bytes:
    """``@name`` is an abstract socket (a leading NUL on the wire); ``/path`` a file socket."""
    if address.startswith("@"):
        return b"\0" + address[1:].encode("utf-8")
    if address.startswith("/"):
        return address
    raise ConfigError(
        f"NOTIFY_SOCKET={address!r}: only path (/...) and abstract (@...) sockets are supported"
    )


def _status_line(text: str) -> str:
    """STATUS= is one line: a newline would end it and start a bogus assignment."""
    return "STATUS=" + " ".join(text.splitlines())


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value) if value else 0
    except ValueError:
        return None
    return number if number > 0 else None
