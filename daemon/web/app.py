"""The routes: pages (Jinja2, autoescaped), the JSON API, ``/metrics``, health, login.

Every route reads; none changes anything (the login form's POST only sets the browser's
cookie). The pages are the same for a first load and a live update: ``static/live.js`` asks
``/api/mark`` twice a second and, when it changed, fetches the page again and swaps its
``<main>`` (docs/dashboard.md, "Live").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from daemon.status.escaping import visible
from daemon.web import guard
from daemon.web.board import Board, EventQuery, FileQuery
from daemon.web.chart import pairs_chart
from daemon.web.metrics import CONTENT_TYPE, ImportDurations, exposition, registry_for

HERE = Path(__file__).parent
PAGES = (  # (path, title) of the navigation, in order
    ("/", "Overview"),
    ("/sessions", "Sessions"),
    ("/files", "Files"),
    ("/refinement", "Refinement"),
    ("/log", "Log"),
    ("/datasets", "Datasets"),
)
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


class JSON(JSONResponse):
    """orjson: dict keys that are numbers (sessions) and times as the status files show."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_INDENT_2)


def _templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters["visible"] = lambda value: visible(str(value)) if value is not None else ""
    env.globals["pages"] = PAGES
    return Jinja2Templates(env=env)


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


def _number(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() else default


class Pages:
    """The endpoints, over one ``Board``; each reads, none changes anything."""

    def __init__(self, board: Board, token: str | None, durations: ImportDurations | None):
        self.board = board
        self.token = token
        self.gate = guard.Guard(token)
        self.templates = _templates()
        self.registry = registry_for(board, durations)

    def page(self, request: Request, name: str, **context: Any) -> Response:
        context.update(path=request.url.path, mark=self.board.mark())
        return self.templates.TemplateResponse(request, name, context)

    # -- pages -------------------------------------------------------------------------------
    def overview(self, request: Request) -> Response:
        shown = self.board.overview()
        return self.page(request, "overview.html", board=shown, chart=pairs_chart(shown["series"]))

    def sessions(self, request: Request) -> Response:
        return self.page(request, "sessions.html", sessions=self.board.sessions())

    def session(self, request: Request) -> Response:
        found = self.board.session(int(request.path_params["number"]))
        if found is None:
            return self.page(request, "missing.html", what="no such session")
        return self.page(request, "session.html", session=found)

    def files(self, request: Request) -> Response:
        query = _file_query(request)
        choices = self.board.file_choices()
        return self.page(
            request, "files.html", files=self.board.files(query), query=query, **choices
        )

    def refinement(self, request: Request) -> Response:
        return self.page(request, "refinement.html", refinement=self.board.refinement())

    def log(self, request: Request) -> Response:
        query = EventQuery(
            agent=_text(request, "agent"),
            level=_text(request, "level"),
            event=_text(request, "event"),
            since=_text(request, "since"),
            lines=_number(request, "lines", EventQuery.lines),
        )
        events, problem = self.board.events(query)
        return self.page(request, "log.html", events=events, problem=problem, query=query)

    def datasets(self, request: Request) -> Response:
        return self.page(request, "datasets.html", snapshots=self.board.datasets())

    # -- the API, metrics, health ------------------------------------------------------------
    def api_status(self, _request: Request) -> Response:
        return JSON(self.board.status())

    def api_agent(self, request: Request) -> Response:
        agent = request.path_params["agent"]
        if agent not in self.board.settings.agents:
            return JSON({"error": "unknown agent", "agents": self.board.settings.agents}, 404)
        return JSON(self.board.agent(agent))

    def api_files(self, request: Request) -> Response:
        return JSON({"files": self.board.files(_file_query(request))})

    def api_mark(self, _request: Request) -> Response:
        return JSON({"mark": self.board.mark()})

    def metrics(self, _request: Request) -> Response:
        return Response(exposition(self.registry), media_type=CONTENT_TYPE)

    def healthz(self, _request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def readyz(self, _request: Request) -> Response:
        ready = self.board.ready()
        return PlainTextResponse("ready\n" if ready else "not ready\n", 200 if ready else 503)

    # -- the login form ----------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        context = {"next": request.query_params.get("next", "/"), "wrong": False}
        return self.templates.TemplateResponse(
            request, "login.html", {**context, "token_set": self.token is not None}
        )

    async def login(self, request: Request) -> Response:
        given, target = await guard.form_token(request)
        if self.gate.token_matches(given):
            return self.gate.logged_in(request, target)
        context = {"next": target, "wrong": True, "token_set": self.token is not None}
        return self.templates.TemplateResponse(request, "login.html", context, status_code=401)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.overview),
            Route("/sessions", self.sessions),
            Route("/sessions/{number:int}", self.session),
            Route("/files", self.files),
            Route("/refinement", self.refinement),
            Route("/log", self.log),
            Route("/datasets", self.datasets),
            Route("/api/status", self.api_status),
            Route("/api/agents/{agent}", self.api_agent),
            Route("/api/files", self.api_files),
            Route("/api/mark", self.api_mark),
            Route("/metrics", self.metrics),
            Route("/healthz", self.healthz),
            Route("/readyz", self.readyz),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]


def create_app(
    board: Board,
    token: str | None = None,
    loopback: bool = True,
    durations: ImportDurations | None = None,
) -> Starlette:
    """The dashboard over ``board``; ``token`` when set is asked of every reader;
    ``durations`` the running daemon's import histogram, for ``/metrics``; ``loopback``: the
    Host header must name the loopback (a page on loopback is not read through DNS
    rebinding)."""
    pages = Pages(board, token, durations)
    middleware = [Middleware(guard.GuardMiddleware, guard=pages.gate)]
    if loopback:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS))
    return Starlette(routes=pages.routes(), middleware=middleware)


def _file_query(request: Request) -> FileQuery:
    return FileQuery(
        agent=_text(request, "agent"),
        outcome=_text(request, "outcome"),
        kind=_text(request, "kind"),
        text=_text(request, "q"),
        limit=_number(request, "limit", FileQuery.limit),
    )
