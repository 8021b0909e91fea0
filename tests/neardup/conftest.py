"""Fixtures of the near-duplicate tests: the command line on the test's root, Q&A files."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.support import Run, cli_runner


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], root: Path) -> Iterator[Run]:
    with cli_runner(capsys, "--root", str(root)) as invoke:
        yield invoke


def write_pairs(
    root: Path, name: str, questions: list[str], agent: str = "droid", indicator: str = "RSI"
) -> Path:
    """A Q&A file in the agent's outbox, one answer per question."""
    path = root / "outbox" / agent / name
    pairs = [{"question": q, "answer": f"An answer to: {q}"} for q in questions]
    path.write_text(json.dumps({"indicator": indicator, "qa_pairs": pairs}), "utf-8")
    return path


def rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(root / "var" / "inboxd.db")) as connection:
        return connection.execute(sql).fetchall()


def marks(root: Path) -> list[tuple[str, str | None, float | None]]:
    """Each stored question, the question it is marked as resembling, the similarity."""
    return [
        (question, of, similarity)
        for question, of, similarity in rows(
            root,
            "SELECT p.question, o.question, p.near_similarity FROM qa_pairs p"
            " LEFT JOIN qa_pairs o ON o.qa_id = p.near_duplicate_of ORDER BY p.qa_id",
        )
    ]
