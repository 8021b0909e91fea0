"""The real page in headless chromium, against a live daemon (issue 17, "Done when")."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import func, select

from daemon.store.models import FileRecord, QAPairRow
from tests.support import deliver, wait_for
from tests.web.conftest import Dashboard, Tab, save_screenshot

WAIT_MS = 10_000  # a deadline for what should show within a second, not a measure
ASSIGNED = (
    "inbox/droid/SESSION_INDEX.md",
    "inbox/droid/session-02-assignment.md",
    "inbox/droid/session-03-assignment.md",
)
DATA = (
    "outbox/droid/session_02/ema_qa_pairs.json",
    "outbox/droid/session_02/sma_qa_pairs.json",
    "outbox/claude/database_qa_export_20251030_012343.json",
    "outbox/gemini/refinement_0001.jsonl",
)
TRUNCATED = "outbox/droid/truncated_qa_pairs.json"  # rejected: line 1, column 201


def _fill(web: Dashboard, *files: str, bad: tuple[str, ...] = ()) -> None:
    """Deliver samples (and ``bad`` ones from the demo's bad/ folder, into droid's outbox),
    then wait until the ledger holds every one of them."""
    root = web.settings.root_path
    for rel in files:
        deliver(root, rel)
    for rel in bad:
        deliver(root, f"bad/{Path(rel).name}", rel)
    wait_for(lambda: handled(web) >= {*files, *bad}, timeout=30, what="the files to be handled")
    assert web.daemon.join(30)


def handled(web: Dashboard) -> set[str]:
    """The paths in the ledger now."""
    with web.daemon.db.reader() as db_session:
        return set(db_session.scalars(select(FileRecord.rel_path)))


def _pairs(web: Dashboard) -> int:
    with web.daemon.db.reader() as db_session:
        return int(db_session.scalar(select(func.count()).select_from(QAPairRow)) or 0)


def test_every_page_in_chromium_with_the_agents_cards_and_no_console_error(
    dashboard: Dashboard, tab: Tab, tmp_path: Path
) -> None:
    _fill(dashboard, *ASSIGNED, *DATA, bad=(TRUNCATED,))
    page = tab.page
    page.goto(dashboard.url)
    cards = page.locator("article.card")
    assert cards.count() == len(dashboard.settings.agents)
    droid = page.locator('article.card[data-agent="droid"]')
    assert "1 rejected" in droid.inner_text()
    assert page.inner_text("#total-pairs") == str(_pairs(dashboard))
    assert page.locator("section.chart svg polyline").count() == 1  # drawn by the server
    shots = tmp_path / "screenshots"
    save_screenshot(tab, "overview", shots)
    for name in ("sessions", "files", "refinement", "log", "datasets"):
        page.goto(dashboard.url + name)
        assert page.locator(f'nav a.here[href="/{name}"]').count() == 1
        save_screenshot(tab, name, shots)
    page.goto(dashboard.url + "sessions/2")
    assert "Session 02" in page.inner_text("h1")
    assert "ema_qa_pairs.json" in page.inner_text("main")
    save_screenshot(tab, "session", shots)
    assert tab.errors == []
    assert sorted(p.name for p in shots.iterdir()) == sorted(
        f"{n}.png"
        for n in ("overview", "sessions", "files", "refinement", "log", "datasets", "session")
    )


def test_a_file_dropped_while_the_page_is_open_appears_without_a_reload(
    dashboard: Dashboard, tab: Tab
) -> None:
    _fill(dashboard, *ASSIGNED)
    page = tab.page
    page.goto(dashboard.url + "files")
    page.wait_for_selector("#live.on", timeout=WAIT_MS)  # the script runs and reaches the API
    loaded = list(tab.navigations)
    new = "outbox/droid/session_02/ema_qa_pairs.json"
    assert page.locator(f'tr[data-path="{new}"]').count() == 0
    deliver(dashboard.settings.root_path, new)
    page.wait_for_selector(f'tr[data-path="{new}"]', timeout=WAIT_MS)
    assert tab.navigations == loaded  # the same document: no reload
    page.goto(dashboard.url)
    before = page.inner_text("#total-pairs")
    deliver(dashboard.settings.root_path, "outbox/droid/session_02/sma_qa_pairs.json")
    # (a wait_for_function would be JavaScript evaluated from a string: the page's policy
    # refuses it, as it should)
    expect(page.locator("#total-pairs")).not_to_have_text(before, timeout=WAIT_MS)
    assert page.inner_text("#total-pairs") == str(_pairs(dashboard))
    assert tab.errors == []


def test_a_rejected_files_reason_is_shown_with_its_line_and_column(
    dashboard: Dashboard, tab: Tab
) -> None:
    _fill(dashboard, bad=(TRUNCATED,))
    tab.page.goto(dashboard.url + "files?outcome=rejected")
    reason = tab.page.locator("td.reason").first.inner_text()
    assert "line 1, column 201" in reason
    assert "invalid JSON" in reason
    assert tab.page.locator("tr.outcome-imported").count() == 0  # the filter holds


def test_names_with_html_and_script_are_shown_as_text(
    start_web: Callable[..., Dashboard], tab: Tab
) -> None:
    odd_agent = "<i>odd&agent"
    web = start_web(agents=["droid", "claude", "gemini", odd_agent])
    root = web.settings.root_path
    (root / "outbox" / odd_agent).mkdir(parents=True, exist_ok=True)
    scripted = "<img src=x onerror=alert(1)>_qa_pairs.json"
    bold = "<b>bold<b>_qa_pairs.json"
    deliver(root, "bad/truncated_qa_pairs.json", f"outbox/droid/{scripted}")
    deliver(root, "outbox/droid/session_02/ema_qa_pairs.json", f"outbox/{odd_agent}/{bold}")
    names = {f"outbox/droid/{scripted}", f"outbox/{odd_agent}/{bold}"}
    wait_for(lambda: handled(web) >= names, timeout=30, what="the odd names to be handled")
    raw = web.get("files").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in raw
    assert "<img src=x" not in raw and "<b>bold" not in raw
    page = tab.page
    page.goto(web.url + "files")
    main = page.inner_text("main")
    assert f"outbox/droid/{scripted}" in main
    assert f"outbox/{odd_agent}/{bold}" in main
    assert page.locator("main img, main b, main i").count() == 0
    page.goto(web.url)
    assert odd_agent in page.locator("article.card h2").all_inner_texts()
    assert tab.errors == []  # no alert() dialog, no error


def test_the_page_carries_no_inline_script_or_style_and_a_strict_policy(
    dashboard: Dashboard,
) -> None:
    _fill(dashboard, *ASSIGNED, *DATA)
    for path in ("", "sessions", "files", "refinement", "log", "datasets", "login"):
        answer = dashboard.get(path)
        assert answer.status == 200, path
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        html = answer.text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], path
        assert not re.search(r"\sstyle=|\son[a-z]+=", html), path
        assert "http://" not in html and "https://" not in html, path  # nothing from elsewhere


def test_a_page_weighs_at_most_200_kb_with_its_stylesheet_and_script(
    dashboard: Dashboard,
) -> None:
    _fill(dashboard, *ASSIGNED, *DATA)
    for path in ("", "files", "sessions"):
        page = dashboard.get(path).body
        assets = re.findall(rb'(?:src|href)="(/static/[^"]+)"', page)
        weight = len(page) + sum(len(dashboard.get(a.decode()).body) for a in assets)
        assert weight <= 200 * 1024, (path, weight)
