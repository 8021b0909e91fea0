"""A new kind of file is one module and one line in the table: docs/adding-a-file-kind.md.

The toy handler is the module printed on that page, run as it is written there; putting
its ``HANDLER`` in ``handlers.HANDLERS`` is the only change made, and a real file then goes
through the real pipeline into a real SQLite database: routed, imported and counted.
"""

from __future__ import annotations

import re
import types
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from sqlalchemy import select

import handlers
from daemon.config import Settings
from daemon.ingest.importers import IMPORTERS
from daemon.ingest.pipeline import Pipeline
from daemon.status.writer import StatusWriter
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow, SignalRow
from handlers.base import FileContext, Handler, Rejected
from tests.support import deliver, read_status

DOC = Path(__file__).parents[2] / "docs" / "adding-a-file-kind.md"
TSV = "outbox/droid/session_02/sma_qa.tsv"


def _module_on_the_page() -> types.ModuleType:
    """The ``handlers/qa_tsv.py`` code block of the page, run as a module."""
    found = re.search(r"```python\n# handlers/qa_tsv\.py\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert found, f"{DOC.name} has no handlers/qa_tsv.py block"
    module = types.ModuleType("handlers.qa_tsv")
    exec(compile(found.group(1), "handlers/qa_tsv.py", "exec"), module.__dict__)
    return module


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Handler:
    """The one line: the page's handler added to the routing table."""
    handler = _module_on_the_page().HANDLER
    assert isinstance(handler, Handler)
    monkeypatch.setattr(handlers, "HANDLERS", (*handlers.HANDLERS, handler))
    return handler


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_toy_handler_parses_and_refuses_like_any_other(toy: Handler) -> None:
    ctx = FileContext(agent="droid", box="outbox", rel_path=PurePosixPath("session_02/x_qa.tsv"))
    assert handlers.route(ctx) is toy
    assert isinstance(toy.parse(b"no tab here\n", ctx), Rejected)
    assert "qa_tsv" in handlers.pair_kinds()
    assert toy.importer in IMPORTERS


def test_a_toy_file_is_routed_imported_and_counted(
    toy: Handler, settings: Settings, db: Database
) -> None:
    pipeline = Pipeline(settings, db, on_status=StatusWriter(settings, db).write)
    text = "What is an SMA?\tThe mean of the last N closes.\nnot a pair\nWhy lag?\tIt averages.\n"

    outcome = pipeline.process(_write(settings.root_path, TSV, text))

    assert (outcome.outcome, outcome.kind) == ("imported", "qa_tsv")
    assert (outcome.result.stored, outcome.result.skipped) == (2, 1)
    with db.reader() as reader:
        assert reader.scalar(select(FileRecord.kind).where(FileRecord.rel_path == TSV)) == "qa_tsv"
        stored = reader.execute(select(QAPairRow.agent, QAPairRow.session_number)).all()
    assert sorted(stored) == [("droid", 2), ("droid", 2)]
    assert read_status(settings.root_path, "droid")["sessions"]["delivered"] == [2]

    # batch close counts it as a data file: the agent's claims agree with the database
    signal = _write(settings.root_path, "outbox/droid/ALL_SESSIONS_COMPLETE", "Files: 1\n")
    assert pipeline.process(signal).outcome == "imported"
    with db.reader() as reader:
        closed = reader.scalars(select(SignalRow)).one()
    findings: dict[str, Any] = closed.findings or {}
    assert closed.outcome == "closed"
    assert findings["database"]["files"] == 1
    assert findings["database"]["pairs"] == 2
    assert findings["claims"] == [{"claim": "files", "claimed": 1, "database": 1, "agrees": True}]


def test_without_the_line_the_same_file_is_refused_naming_what_is_taken(
    settings: Settings, db: Database
) -> None:
    outcome = Pipeline(settings, db).process(_write(settings.root_path, TSV, "Q?\tA.\n"))
    assert outcome.outcome == "rejected"
    assert "not a known kind of file in outbox/droid/" in (outcome.reason or "")
    assert "qa_tsv" not in handlers.pair_kinds()


def test_the_refiner_is_the_agent_the_settings_name(settings: Settings, db: Database) -> None:
    settings = settings.model_copy(update={"refiner": "claude"})
    pipeline = Pipeline(settings, db)
    refinement = "outbox/{}/refinement_0001.jsonl"
    to_claude = pipeline.process(
        deliver(settings.root_path, refinement.format("gemini"), refinement.format("claude"))
    )
    to_gemini = pipeline.process(deliver(settings.root_path, refinement.format("gemini")))
    assert to_claude.kind == "refinement"
    assert to_gemini.kind == "qa"  # gemini is no refiner here: taken as generic JSON Lines
