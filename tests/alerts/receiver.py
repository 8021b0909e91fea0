"""A real webhook on 127.0.0.1 that apprise's ``json://`` URL posts to, in a thread.

It can answer (each message is kept), be down (its port closed: connection refused) and up
again on the same port, or hang: accept a request and answer only once released.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.hanging = 0  # requests accepted and not answered
        self.hang = False
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.hang:
                    with receiver._lock:
                        receiver.hanging += 1
                    receiver.released.wait(600)
                    return
                with receiver._lock:
                    receiver.messages.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test's output stays the test's

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, name="test-receiver", daemon=True).start()

    def down(self) -> None:
        """The port closed: apprise's connection is refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.released.set()
        self.down()

    def got(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)


MORE = re.compile(r"^- \.\.\. and (\d+) more")


def alert_lines(message: dict[str, Any]) -> list[str]:
    """The alerts one message carries: its one line, or a grouped message's listed lines."""
    lines = message["message"].splitlines()
    listed = [line[2:] for line in lines if line.startswith("- ") and not MORE.match(line)]
    return listed or lines[:1]


def alert_count(message: dict[str, Any]) -> int:
    """How many alerts a message stands for: its lines, plus the ``... and N more``."""
    more = sum(int(m[1]) for line in message["message"].splitlines() if (m := MORE.match(line)))
    return len(alert_lines(message)) + more
