"""The dashboard against a live daemon: a real uvicorn on a real socket, a real browser.

``dashboard`` starts a daemon on the test root and the dashboard beside it, as ``inboxd run
--http 127.0.0.1:0`` does (``start_dashboard`` with the daemon as its live source). ``browser``
is Debian's chromium, headless, driven by Playwright (never ``playwright install``: nothing
is downloaded); without it the browser tests are skipped, saying why.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.web.board import Board
from daemon.web.launch import start_dashboard
from daemon.web.server import WebServer, listen_socket, url_of
from tests.support import wait_for

CHROMIUM = Path("/usr/bin/chromium")
# where the screenshots go too, for docs/dashboard.md: `make screenshots`
SCREENSHOTS_TO = os.environ.get("DASHBOARD_SCREENSHOTS_TO")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def http_get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> Answer:
    """One request, its answer whatever the status (urllib raises on 4xx/5xx); redirects
    are not followed (a 303 is an answer to look at)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with opener.open(request, timeout=30) as response:
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers.items()), exc.read())


@dataclass
class Dashboard:
    daemon: Daemon
    board: Board
    server: WebServer
    url: str  # ends with "/"
    settings: Settings
    pages: list[str] = field(default_factory=list)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return http_get(self.url + path.lstrip("/"), headers)


@pytest.fixture
def start_web(
    start_daemon: Callable[..., Daemon], settings: Settings
) -> Iterator[Callable[..., Dashboard]]:
    """Start a daemon (with settings overrides) and the dashboard beside it."""
    servers: list[WebServer] = []

    def factory(**overrides: Any) -> Dashboard:
        daemon = start_daemon(**overrides)
        listen, sock = listen_socket(
            "127.0.0.1:0", has_token=daemon.settings.http_token is not None
        )
        server, board = start_dashboard(daemon.settings, listen, sock, live=daemon)
        servers.append(server)
        wait_for(lambda: server.started, what="uvicorn to start")
        return Dashboard(daemon, board, server, url_of(listen, sock), daemon.settings)

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def dashboard(start_web: Callable[..., Dashboard]) -> Dashboard:
    return start_web()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless chromium for the session (Playwright, Debian's binary)."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (.ci/run installs Debian's chromium package)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev extra")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@dataclass
class Tab:
    """A page in a fresh browser context, with what went wrong in it collected."""

    page: Any
    errors: list[str]
    navigations: list[str]


@pytest.fixture
def tab(chromium: Any) -> Iterator[Tab]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    navigations: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))

    def on_dialog(dialog: Any) -> None:  # an alert() that ran: escaping failed
        errors.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on(
        "framenavigated",
        lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
    )
    yield Tab(page, errors, navigations)
    context.close()


def save_screenshot(tab: Tab, name: str, folder: Path) -> Path:
    """The page, whole, under the test's output folder (and docs/images/ when asked)."""
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / f"{name}.png"
    tab.page.screenshot(path=str(shot), full_page=True)
    if SCREENSHOTS_TO:
        target = Path(SCREENSHOTS_TO)
        target.mkdir(parents=True, exist_ok=True)
        tab.page.screenshot(path=str(target / f"dashboard-{name}.png"), full_page=True)
    return shot
