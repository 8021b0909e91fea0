"""The JSON API, /metrics and the health checks against a live daemon: counts equal the
database's."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from daemon.status.view import agent_view
from daemon.store.models import FileRecord, QAPairRow, utcnow
from daemon.web.board import Board, ago
from tests.web.conftest import Dashboard, http_get
from tests.web.test_page import ASSIGNED, DATA, TRUNCATED, _fill


def _count(web: Dashboard, statement: object) -> int:
    with web.daemon.db.reader() as db_session:
        return int(db_session.scalar(statement) or 0)  # type: ignore[call-overload]


def _metrics(web: Dashboard) -> dict[str, list[tuple[dict[str, str], float]]]:
    answer = web.get("metrics")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def test_api_status_and_agents_equal_the_database(dashboard: Dashboard) -> None:
    _fill(dashboard, *ASSIGNED, *DATA, bad=(TRUNCATED,))
    status = json.loads(dashboard.get("api/status").body)
    pairs = _count(dashboard, select(func.count()).select_from(QAPairRow))
    assert status["pairs"] == pairs > 0
    files = _count(dashboard, select(func.count()).select_from(FileRecord))
    assert sum(status["files"].values()) == files
    assert set(status["agents"]) == set(dashboard.settings.agents)
    droid = json.loads(dashboard.get("api/agents/droid").body)
    with dashboard.daemon.db.reader() as db_session:
        expected = agent_view(db_session, dashboard.settings, "droid")
    for key in ("sessions", "pairs", "rejected", "signal", "progress"):
        assert droid[key] == json.loads(json.dumps(expected[key])), key
    assert [r["path"] for r in droid["rejected"]] == [TRUNCATED]
    unknown = dashboard.get("api/agents/nobody")
    assert unknown.status == 404 and json.loads(unknown.body)["agents"] == [
        "droid",
        "claude",
        "gemini",
    ]


def test_api_files_filters_by_outcome_agent_and_kind(dashboard: Dashboard) -> None:
    _fill(dashboard, *ASSIGNED, *DATA, bad=(TRUNCATED,))
    rejected = json.loads(dashboard.get("api/files?outcome=rejected").body)["files"]
    assert [(f["path"], f["outcome"]) for f in rejected] == [(TRUNCATED, "rejected")]
    assert "line 1, column 201" in rejected[0]["reason"]
    imported = json.loads(dashboard.get("api/files?outcome=imported&agent=droid&kind=qa").body)
    expected = _count(
        dashboard,
        select(func.count())
        .select_from(FileRecord)
        .where(
            FileRecord.outcome == "imported", FileRecord.agent == "droid", FileRecord.kind == "qa"
        ),
    )
    assert len(imported["files"]) == expected == 2
    one = json.loads(dashboard.get("api/files?limit=1").body)["files"]
    assert len(one) == 1


def test_metrics_equal_the_database_and_the_daemons_own_figures(dashboard: Dashboard) -> None:
    _fill(dashboard, *ASSIGNED, *DATA, bad=(TRUNCATED,))
    found = _metrics(dashboard)
    pairs = _count(dashboard, select(func.count()).select_from(QAPairRow))
    assert found["inboxd_pairs_stored"] == [({}, pairs)]
    files = _count(dashboard, select(func.count()).select_from(FileRecord))
    assert sum(value for _, value in found["inboxd_files"]) == files
    assert ({"agent": "droid", "kind": "qa", "outcome": "rejected"}, 1.0) in found["inboxd_files"]
    duplicates = _count(dashboard, select(func.sum(FileRecord.pairs_duplicate)))
    assert sum(value for _, value in found["inboxd_duplicates_skipped"]) == duplicates
    last = dict(
        (labels["agent"], value)
        for labels, value in found["inboxd_last_delivery_timestamp_seconds"]
    )
    assert set(last) == {"droid", "claude", "gemini"}
    assert found["inboxd_queue_depth"] == [({}, 0.0)]
    assert found["inboxd_database_waiting_seconds"] == [({}, 0.0)]
    imported = _count(
        dashboard,
        select(func.count()).select_from(FileRecord).where(FileRecord.outcome == "imported"),
    )
    # every import of this test went through this daemon: its histogram saw each one
    assert found["inboxd_import_duration_seconds_count"] == [({}, imported)]
    handled = dict(
        (labels["outcome"], value) for labels, value in found["inboxd_daemon_files_total"]
    )
    assert handled == {"imported": imported, "rejected": 1.0}


def test_health_and_readiness(dashboard: Dashboard) -> None:
    assert dashboard.get("healthz").status == 200
    ready = dashboard.get("readyz")
    assert (ready.status, ready.text) == (200, "ready\n")
    dashboard.daemon.ready.clear()  # as during a catch-up scan
    assert dashboard.get("readyz").status == 503


def test_nothing_changes_anything(dashboard: Dashboard) -> None:
    """Only GET (and HEAD) answer; a POST anywhere but the login form is refused."""
    for path in ("", "files", "api/status", "metrics"):
        answer = dashboard.get(path)
        assert answer.status == 200
        posted = http_get(dashboard.url + path, data=b"x=1")
        assert posted.status == 405, path


def test_an_agent_is_marked_silent_past_silent_after(
    start_web: Callable[..., Dashboard],
) -> None:
    web = start_web(silent_after=3600)
    _fill(web, "outbox/droid/session_02/ema_qa_pairs.json")
    cards = {c["agent"]: c for c in web.board.overview()["cards"]}
    assert not cards["droid"]["silent"]
    later = Board(web.settings, web.daemon.db, clock=lambda: utcnow() + timedelta(hours=2))
    cards = {c["agent"]: c for c in later.overview()["cards"]}
    assert cards["droid"]["silent"] and cards["droid"]["ago"].startswith("2 h")
    assert not cards["claude"]["silent"]  # never delivered, owes nothing


def test_ago_reads_as_a_person_says_it() -> None:
    assert [ago(s) for s in (None, 5, 125, 7300, 200_000)] == [
        "never",
        "5 s ago",
        "2 min ago",
        "2 h ago",
        "2 d ago",
    ]
