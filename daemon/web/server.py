"""Where the dashboard listens, and uvicorn running it in a thread of its own.

The socket is bound here, by the command, before anything else starts: an address in use
or one refused by the token rule is one line and an exit code, not a traceback in a thread.
uvicorn then serves on that socket in its own thread with its own event loop, so the
daemon's worker never waits for a page (docs/dashboard.md, "Running it").
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from daemon.errors import InboxdError, UsageError

DEFAULT_PORT = 8377
LOCAL_NAMES = ("localhost",)
STOP_SECONDS = 5  # a warm stop waits this long for open requests


@dataclass(frozen=True)
class Listen:
    """An address to listen on: a host (a name or an IP address) and a port."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host in LOCAL_NAMES:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to any interface

    def shown(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """``127.0.0.1:8377``, ``[::1]:8377``, ``localhost`` or ``:8377`` (loopback)."""
    given = text.strip()
    host, port_text = given, str(DEFAULT_PORT)
    if given.startswith("["):  # [IPv6]:port
        host, _, rest = given[1:].partition("]")
        if rest:
            port_text = rest.removeprefix(":")
    elif given.count(":") == 1:
        host, port_text = given.split(":")
    host = host or "127.0.0.1"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(
            f"--http {text!r}: the port must be a number from 0 to 65535 "
            f"(e.g. --http 127.0.0.1:{DEFAULT_PORT})"
        )
    return Listen(host, int(port_text))


def check_exposure(listen: Listen, has_token: bool) -> None:
    """Loopback by default: any other address only with ``http_token`` set."""
    if not listen.loopback and not has_token:
        raise UsageError(
            f"refusing to listen on {listen.shown()} without a token: set http_token "
            "(INBOXD_HTTP_TOKEN) or listen on 127.0.0.1 (docs/dashboard.md)"
        )


def open_socket(listen: Listen) -> socket.socket:
    """The listening socket, bound now (port 0: the system picks one; ``bound_port``)."""
    try:
        infos = socket.getaddrinfo(listen.host, listen.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"--http {listen.shown()}: unknown host ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InboxdError(f"cannot listen on {listen.shown()}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


class WebServer:
    """uvicorn on a bound socket, in a daemon thread: ``start()``, ``stop()``."""

    def __init__(self, app: ASGIApp, sock: socket.socket) -> None:
        self.sock = sock
        config = uvicorn.Config(
            app,
            log_config=None,  # inboxd's own log (structlog) is the log
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=STOP_SECONDS,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        # its start and stop lines are inboxd's web.listening and daemon.stopping
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="inboxd-web", daemon=True
        )

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(STOP_SECONDS * 2)
        self.sock.close()


def listen_socket(address: str, has_token: bool) -> tuple[Listen, socket.socket]:
    """The command's first step: the address checked against the token rule, and bound."""
    listen = parse_listen(address)
    check_exposure(listen, has_token)
    return listen, open_socket(listen)


def url_of(listen: Listen, sock: socket.socket) -> str:
    return f"http://{Listen(listen.host, bound_port(sock)).shown()}/"
