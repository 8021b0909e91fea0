"""Who may look: the token as a bearer header or through the login form's cookie."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
from pydantic import SecretStr

from daemon.web.guard import COOKIE
from tests.web.conftest import Dashboard, Tab, http_get

TOKEN = "s3cret-token-for-the-tests"


@pytest.fixture
def guarded(start_web: Callable[..., Dashboard]) -> Dashboard:
    return start_web(http_token=SecretStr(TOKEN))  # (model_copy does not validate)


def _login(web: Dashboard, token: str, target: str = "/") -> Any:
    body = f"token={token}&next={target}".encode()
    return http_get(
        web.url + "login", {"content-type": "application/x-www-form-urlencoded"}, data=body
    )


def test_without_the_token_nothing_but_health_is_shown(guarded: Dashboard) -> None:
    api = guarded.get("api/status")
    assert api.status == 401
    assert api.headers["www-authenticate"].startswith("Bearer")
    assert json.loads(api.body) == {"error": "a token is needed"}
    assert guarded.get("metrics").status == 401
    assert guarded.get("api/mark").status == 401
    page = guarded.get("files?outcome=rejected", {"accept": "text/html"})
    assert page.status == 303
    assert page.headers["location"] == "/login?next=/files%3Foutcome%3Drejected"
    assert "content-security-policy" in page.headers
    assert guarded.get("healthz").status == 200
    assert guarded.get("readyz").status == 200
    assert guarded.get("static/live.js").status == 200


def test_a_wrong_bearer_token_is_401_and_the_right_one_opens_everything(
    guarded: Dashboard,
) -> None:
    assert (
        guarded.get("api/status", {"authorization": "Bearer wrong-token-0123456789"}).status == 401
    )
    assert guarded.get("api/status", {"authorization": f"Basic {TOKEN}"}).status == 401
    right = {"authorization": f"Bearer {TOKEN}"}
    for path in ("", "files", "api/status", "metrics", "api/mark"):
        assert guarded.get(path, right).status == 200, path


def test_the_login_form_sets_an_httponly_samesite_strict_cookie(guarded: Dashboard) -> None:
    wrong = _login(guarded, "not-the-token")
    assert wrong.status == 401
    assert "That is not the token." in wrong.text
    assert "set-cookie" not in {k.lower() for k in wrong.headers}
    right = _login(guarded, TOKEN, "/files")
    assert right.status == 303
    assert right.headers["location"] == "/files"
    header = right.headers["set-cookie"]
    cookie = SimpleCookie(header)[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "strict"
    assert cookie["path"] == "/"
    assert TOKEN not in header  # the cookie holds a value derived from it, not the token
    session = {"cookie": f"{COOKIE}={cookie.value}"}
    assert guarded.get("files", session).status == 200
    assert guarded.get("api/status", {"cookie": f"{COOKIE}=forged"}).status == 401


def test_the_login_form_returns_only_to_a_page_of_this_site(guarded: Dashboard) -> None:
    assert _login(guarded, TOKEN, "//evil.example/").headers["location"] == "/"
    assert _login(guarded, TOKEN, "https://evil.example/").headers["location"] == "/"


def test_a_page_on_loopback_answers_only_to_loopback_names(dashboard: Dashboard) -> None:
    assert dashboard.get("", {"host": "evil.example"}).status == 400  # DNS rebinding
    assert dashboard.get("", {"host": "localhost"}).status == 200


def test_the_token_entered_once_in_chromium_opens_the_pages(guarded: Dashboard, tab: Tab) -> None:
    page = tab.page
    page.goto(guarded.url + "files")
    assert page.url.startswith(guarded.url + "login")
    page.fill('input[name="token"]', "wrong-token-0123456789")
    page.click('button[type="submit"]')
    assert page.locator("#wrong").count() == 1
    page.fill('input[name="token"]', TOKEN)
    page.click('button[type="submit"]')
    page.wait_for_url(guarded.url + "files")
    assert page.locator("table.files").count() == 1
    (cookie,) = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (COOKIE, True, "Strict")
    page.wait_for_selector("#live.on", timeout=10_000)  # the script's requests carry it too
    assert [e for e in tab.errors if "401" not in e] == []
