"""The dashboard put together for a command: its own database handle, the board, the app.

``inboxd run --http`` passes the running daemon as ``live`` (its queue and waits are shown
too); ``inboxd serve`` passes nothing. The board reads through a ``Database`` of its own: the
daemon's connections stay the daemon's.
"""

from __future__ import annotations

import socket

from daemon.config import Settings
from daemon.logging import get_logger
from daemon.store.engine import Database
from daemon.web.app import create_app
from daemon.web.board import Board, LiveSource
from daemon.web.metrics import ImportDurations
from daemon.web.server import Listen, WebServer, url_of

log = get_logger("inboxd.web")


def start_dashboard(
    settings: Settings, listen: Listen, sock: socket.socket, live: LiveSource | None = None
) -> tuple[WebServer, Board]:
    """Serve the dashboard on ``sock`` (bound by ``server.listen_socket``) in a thread."""
    token = settings.http_token.get_secret_value() if settings.http_token else None
    board = Board(settings, Database.for_settings(settings), live=live)
    durations = None
    if live is not None:
        durations = ImportDurations()
        live.outcome_observers.append(durations.observe)
    # the Host header is checked only on an IPv4 or named loopback address (DNS rebinding)
    host_checked = listen.loopback and ":" not in listen.host
    try:
        server = WebServer(create_app(board, token, host_checked, durations), sock)
    except BaseException:
        sock.close()
        raise
    server.start()
    log.info("web.listening", url=url_of(listen, sock), token=token is not None)
    return server, board
