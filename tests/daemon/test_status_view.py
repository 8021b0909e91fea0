"""Status written back into each agent's inbox after the whole sample tree went through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Settings
from daemon.ingest.oneshot import prepare
from daemon.ingest.pipeline import Pipeline
from daemon.status.writer import StatusWriter
from daemon.store.engine import Database
from tests.support import deliver, sample_files

EXPORT = "outbox/claude/database_qa_export_20251030_012343.json"
REFINEMENT = "outbox/gemini/refinement_0001.jsonl"
SIGNAL = "outbox/droid/ALL_SESSIONS_COMPLETE.txt"
BAD = "outbox/droid/wrong_shape.json"


def _natural_order() -> list[str]:
    rest = [f for f in sample_files() if f not in (EXPORT, REFINEMENT, SIGNAL)]
    return [*rest, EXPORT, REFINEMENT, SIGNAL]


def _pipeline(settings: Settings, db: Database) -> Pipeline:
    return Pipeline(settings, db, on_status=StatusWriter(settings, db).write)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The whole sample tree processed once, status written after each file.

    A bad file arrives among droid's deliveries, before the export and the signal (which
    concern claude too, so its whole-database figures are current at the end).
    """
    root = tmp_path_factory.mktemp("status-root")
    settings = Settings(root=root, settle_seconds=0.2, rescan_seconds=3600)
    db = Database(settings.url)
    prepare(settings, db)
    pipeline = _pipeline(settings, db)
    order = _natural_order()
    order.insert(order.index(EXPORT), "bad/wrong_shape.json")
    for rel in order:
        target = deliver(root, rel, BAD if rel.startswith("bad/") else None)
        outcome = pipeline.process(target)
        expected = "rejected" if rel.startswith("bad/") else "imported"
        assert outcome.outcome == expected, (rel, outcome.reason)
    yield root
    db.dispose()


def _status(root: Path, agent: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "inbox" / agent / "status.json").read_text())
    return data


def _markdown(root: Path, agent: str) -> str:
    return (root / "inbox" / agent / "STATUS.md").read_text()


# -- claude: the orchestrator ---------------------------------------------------------------


def test_claude_status_carries_the_database_totals(tree: Path) -> None:
    database = _status(tree, "claude")["database"]
    assert database["pairs"] == 20
    assert database["duplicates_skipped"] == 2
    assert database["files"]["rejected"] == 1
    assert database["files"]["imported"] == len(_natural_order())


def test_claude_status_carries_the_gap_figures(tree: Path) -> None:
    gaps = _status(tree, "claude")["gaps"]
    assert gaps["missing_sessions"] == [3]
    assert gaps["missing_indicators"] == {"2": ["ADX"]}


def test_claude_status_md_has_the_whole_database_section(tree: Path) -> None:
    md = _markdown(tree, "claude")
    assert "## Whole database" in md
    assert "- pairs: 20," in md


def test_claude_totals_stay_current_after_a_file_that_concerns_only_droid(
    settings: Settings, db: Database
) -> None:
    pipeline = _pipeline(settings, db)
    assert pipeline.process(deliver(settings.root_path, EXPORT)).outcome == "imported"
    assert _status(settings.root_path, "claude")["database"]["pairs"] == 5
    sma = deliver(settings.root_path, "outbox/droid/session_02/sma_qa_pairs.json")
    assert pipeline.process(sma).result.stored == 3
    assert _status(settings.root_path, "claude")["database"]["pairs"] == 8


def test_only_the_orchestrator_carries_database_totals(tree: Path) -> None:
    for agent in ("droid", "gemini"):
        status = _status(tree, agent)
        assert "database" not in status, agent
        assert "gaps" not in status, agent


# -- droid: the generator ------------------------------------------------------------------


def test_droid_next_asks_for_session_03_and_adx(tree: Path) -> None:
    steps = _status(tree, "droid")["next"]
    assert any("session 03" in step for step in steps), steps
    assert any("ADX" in step for step in steps), steps


def test_droid_next_asks_to_fix_the_rejected_file(tree: Path) -> None:
    steps = _status(tree, "droid")["next"]
    assert any(BAD in step and "fix" in step for step in steps), steps


def test_droid_status_counts_its_own_pairs_and_duplicates(tree: Path) -> None:
    status = _status(tree, "droid")
    assert status["pairs"]["imported"] == 16
    assert status["pairs"]["duplicates_skipped"] == 1
    assert status["pairs"]["filtered"] == 1
    assert status["sessions"]["missing"] == [3]


def test_droid_status_puts_its_claim_beside_the_database(tree: Path) -> None:
    progress = _status(tree, "droid")["progress"]
    assert progress["claim"]["sessions_complete"] == 2
    assert progress["claim"]["sessions_total"] == 43
    assert "database" in progress


def test_droid_status_md_lists_the_missing_session(tree: Path) -> None:
    md = _markdown(tree, "droid")
    assert "- missing: 03" in md
    assert "session 02 missing indicators: ADX" in md


def test_droid_status_md_lists_the_rejected_file_with_its_reason(tree: Path) -> None:
    md = _markdown(tree, "droid")
    [reason] = [r["reason"] for r in _status(tree, "droid")["rejected"]]
    assert reason.startswith(BAD)
    section = md.split("## Rejected files", 1)[1].split("\n## ", 1)[0]
    assert f"- {reason}" in section


def test_droid_status_shows_the_closed_signal(tree: Path) -> None:
    signal = _status(tree, "droid")["signal"]
    assert signal["state"] == "closed"
    assert signal["batch"] == 1


# -- gemini: the refiner -------------------------------------------------------------------


def test_gemini_status_exists(tree: Path) -> None:
    status = _status(tree, "gemini")
    assert status["agent"] == "gemini"
    assert _markdown(tree, "gemini").startswith("# inboxd status: gemini")


def test_gemini_status_carries_the_refinement_queue(tree: Path) -> None:
    queue = _status(tree, "gemini")["refinement"]
    assert {"handed", "returned", "pending"} <= set(queue)
    assert queue["handed"] > 0


# -- which agents get status files ----------------------------------------------------------


def test_status_md_has_no_rejected_section_when_nothing_was_rejected(
    settings: Settings, db: Database
) -> None:
    _pipeline(settings, db).process(
        deliver(settings.root_path, "outbox/droid/session_02/ema_qa_pairs.json")
    )
    md = _markdown(settings.root_path, "droid")
    assert md.startswith("# inboxd status: droid")
    assert "## Rejected files" not in md


def test_status_is_written_only_for_configured_agents(root: Path) -> None:
    settings = Settings(root=root, agents=["droid", "claude"])
    db = Database(settings.url)
    try:
        prepare(settings, db)
        pipeline = _pipeline(settings, db)
        gemini_file = deliver(
            root, "outbox/droid/session_02/ema_qa_pairs.json", "outbox/gemini/ema_qa_pairs.json"
        )
        mystery_file = deliver(
            root, "outbox/droid/session_02/sma_qa_pairs.json", "outbox/mystery/sma_qa_pairs.json"
        )
        assert pipeline.process(gemini_file).outcome == "rejected"
        assert pipeline.process(mystery_file).outcome == "rejected"
        StatusWriter(settings, db).write_all()
    finally:
        db.dispose()
    assert (root / "inbox" / "droid" / "status.json").is_file()
    assert (root / "inbox" / "claude" / "status.json").is_file()
    assert list((root / "inbox" / "gemini").iterdir()) == []
    assert not (root / "inbox" / "mystery").exists()
