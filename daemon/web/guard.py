"""Who may look, and the headers every answer carries.

With ``http_token`` set, every page, the API and ``/metrics`` want it: as a bearer header
(a scraper, a script) or once in the login form, which sets a cookie holding a value derived
from the token (HttpOnly: no script reads it; SameSite=Strict: no other site's page sends
it). Without a token the page listens on loopback only (``server.check_exposure``) and asks
nothing. ``/healthz``, ``/readyz``, the login form and the static files are open: they show
nothing of the data.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "inboxd_session"
OPEN_PATHS = ("/healthz", "/readyz", "/login", "/favicon.ico")
OPEN_PREFIXES = ("/static/",)
MAX_FORM_BYTES = 4096  # the login form holds one token
# no inline script or style, nothing from elsewhere, no framing (docs/dashboard.md)
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)


def session_value(token: str) -> str:
    """What the cookie holds: derived from the token, so the cookie is not the token."""
    return hmac.new(token.encode(), b"inboxd dashboard session", hashlib.sha256).hexdigest()


class Guard:
    """Knows the token (or that there is none) and checks a request against it."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def admits(self, request: Request) -> bool:
        if self.token is None:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and given:
            return hmac.compare_digest(given.strip().encode(), self.token.encode())
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and hmac.compare_digest(
            cookie.encode(), session_value(self.token).encode()
        )

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def logged_in(self, request: Request, target: str) -> Response:
        """After a right token in the form: the cookie, and back to the page asked for."""
        response = RedirectResponse(target, status_code=303)
        assert self.token is not None
        response.set_cookie(
            COOKIE,
            session_value(self.token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response


async def form_token(request: Request) -> tuple[str, str]:
    """The login form's token and the page to return to (parsed here: one field does not
    need a multipart parser)."""
    body = await request.body()
    fields = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    target = fields.get("next", ["/"])[0]
    if not target.startswith("/") or target.startswith("//"):
        target = "/"  # only a page of this site
    return fields.get("token", [""])[0], target


def refused(request: Request) -> Response:
    """401: a browser is sent to the login form, anything else told what to send."""
    if "text/html" in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quoted(target)}", status_code=303)
    headers = {"www-authenticate": 'Bearer realm="inboxd"'}
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "a token is needed"}, status_code=401, headers=headers)
    return PlainTextResponse("a token is needed\n", status_code=401, headers=headers)


def _quoted(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


class GuardMiddleware:
    """Every request: the token rule first, then the security headers on whatever answers."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        request = Request(scope)
        path = request.url.path
        public = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        if public or self.guard.admits(request):
            await self.app(scope, receive, with_headers)
        else:
            await refused(request)(scope, receive, with_headers)
