"""Every JSON shape a delivery may have is streamed, and a streamed file stores exactly what the
same file read whole stores; on each engine (see conftest.py).

Small files are forced to stream (``stream_min_bytes`` of 1) and, in a second database, to
be read whole: the same rows, the same counts and the same skipped pairs with their lines. A
fault in the middle of a large file rejects it whole, naming the pair, line and column, and
stores nothing; the live daemon carries on with the next file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from sqlalchemy import select

import handlers
from daemon.config import Settings
from daemon.ingest.oneshot import prepare
from daemon.ingest.outcome import FileOutcome
from daemon.ingest.pipeline import Pipeline
from daemon.live.service import Daemon
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow
from handlers.base import FileContext, Handler
from tests.conftest import fresh_postgres_database
from tests.support import count_rows, read_json_object, wait_for

PAIRS = 2_100  # three chunks of the importer (1,000 pairs each)


def _pairs(count: int = PAIRS, *, tag: str = "Shape") -> list[object]:
    """Pairs with a few unusable ones (skipped, with their lines) and a few repeats."""
    found: list[object] = []
    for i in range(count):
        if i % 500 == 7:
            found.append({"question": f"{tag} {i}: no answer?"})
        elif i % 700 == 9:
            found.append(found[-1])  # the same question again: a duplicate
        else:
            found.append(
                {
                    "question": f"{tag} question {i} about the RSI, café ✓?",
                    "answer": f"Answer {i}: for example, the formula is RSI = 100 - 100/(1+RS).",
                    "difficulty": ("beginner", "advanced")[i % 2],
                }
            )
    return found


def _json(value: object, *, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False)


def _lines(records: list[object]) -> str:
    return "\n".join(_json(record) for record in records) + "\n"


def _export() -> str:
    sessions = [
        {"session_id": 40 - s, "topic": f"Topic {s}", "qa_pairs": _pairs(700, tag=f"S{s}")}
        for s in range(3)
    ]
    return _json({"export_date": "2025-10-30", "sessions": sessions}, indent=1)


def _rag() -> str:
    records = [
        {**pair, "distance": 0.9 if i % 4 == 0 else 0.2, "metadata": {"indicator": "MACD"}}
        if isinstance(pair, dict)
        else pair
        for i, pair in enumerate(_pairs())
    ]
    return _json(records)


META = {"indicator": "RSI", "session": 7, "category": "momentum"}
# (name, file, its text, its encoding): every shape of docs/formats.md, as agents write them
SHAPES: list[tuple[str, str, Callable[[], str], str]] = [
    ("list", "rsi_qa_pairs.json", lambda: _json(_pairs()), "utf-8"),
    ("list indented, CRLF", "rsi_qa_pairs.json", lambda: _json(_pairs(), indent=2), "crlf"),
    ("object", "x_qa_pairs.json", lambda: _json({**META, "qa_pairs": _pairs()}), "utf-8"),
    (
        "object, metadata after its list",
        "x_qa_pairs.json",
        lambda: _json({"pairs": _pairs(), **META}, indent=2),
        "utf-8-sig",
    ),
    (
        "object, a key twice",
        "x_qa_pairs.json",
        lambda: (
            '{"indicator": "EMA", "qa_pairs": [1],\n'
            + _json({**META, "qa_pairs": _pairs()}, indent=1)[1:]
        ),
        "utf-8",
    ),
    ("object in UTF-16", "x_qa_pairs.json", lambda: _json({**META, "data": _pairs()}), "utf-16"),
    ("list in UTF-32", "obv_qa_pairs.json", lambda: _json(_pairs(), indent=1), "utf-32"),
    ("JSON Lines", "session_03/obv_qa_pairs.jsonl", lambda: _lines(_pairs()), "utf-8"),
    ("JSON Lines in a .json", "session_03/obv_qa_pairs.json", lambda: _lines(_pairs()), "utf-8"),
    ("JSON Lines in UTF-16", "session_03/obv_qa_pairs.jsonl", lambda: _lines(_pairs()), "utf-16"),
    ("RAG export", "rag_export_1.json", _rag, "utf-8"),
    ("multi-session export", "database_qa_export_1.json", _export, "utf-8"),
]


def _write(root: Path, rel: str, text: str, encoding: str) -> Path:
    path = root / "outbox" / "droid" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if encoding == "crlf":
        path.write_bytes(text.replace("\n", "\r\n").encode())
    else:
        path.write_bytes(text.encode(encoding))  # UTF-16/32 and utf-8-sig with their BOM
    return path


def _run(settings: Settings, db: Database, path: Path, *, stream: bool) -> FileOutcome:
    threshold = 1 if stream else 1 << 40
    return Pipeline(settings.model_copy(update={"stream_min_bytes": threshold}), db).process(path)


def _stored(db: Database) -> list[tuple[Any, ...]]:
    """Every stored pair as the tables hold it, but for ids and times."""
    columns = [
        c
        for c in QAPairRow.__table__.columns
        if c.name not in ("qa_id", "indicator_id", "source_file_id", "created_date")
    ]
    with db.reader() as db_session:
        return [tuple(row) for row in db_session.execute(select(*columns).order_by("qa_id"))]


def _no_whole_read(path: Path) -> bytes:
    raise AssertionError(f"{path} was read whole")


def _streams(path: Path, root: Path) -> bool:
    """Whether the file's handler streams it (rather than leaving it to the whole read)."""
    rel = PurePosixPath(path.relative_to(root / "outbox" / "droid").as_posix())
    ctx = FileContext(agent="droid", box="outbox", rel_path=rel)
    handler = handlers.route(ctx)
    assert isinstance(handler, Handler) and handler.stream is not None
    with open(path, "rb") as source:
        return handler.stream(source, ctx) is not None


@pytest.fixture
def other(settings: Settings, engine: str, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """A second root with its own database on the same engine: the whole read's."""
    root = settings.root_path.parent / (settings.root_path.name + "-whole")
    if engine == "sqlite":
        yield Settings(root=root, settle_seconds=0.2, rescan_seconds=3600)
        return
    for url in fresh_postgres_database(request.getfixturevalue("postgres_server")):
        yield Settings(root=root, settle_seconds=0.2, rescan_seconds=3600, database_url=url)


@pytest.mark.parametrize(("shape", "rel", "text", "encoding"), SHAPES, ids=[s[0] for s in SHAPES])
def test_each_shape_streamed_stores_what_it_stores_read_whole(
    settings: Settings,
    db: Database,
    other: Settings,
    monkeypatch: pytest.MonkeyPatch,
    shape: str,
    rel: str,
    text: Callable[[], str],
    encoding: str,
) -> None:
    content = text()
    path = _write(settings.root_path, rel, content, encoding)
    assert _streams(path, settings.root_path)
    with monkeypatch.context() as never:
        never.setattr("daemon.ingest.pipeline.read_whole", _no_whole_read)
        streamed = _run(settings, db, path, stream=True)
    assert streamed.outcome == "imported", streamed.reason
    assert streamed.result.stored > 1_000 and streamed.result.skipped > 0

    other_db = Database(other.url)
    try:
        prepare(other, other_db)
        whole = _run(other, other_db, _write(other.root_path, rel, content, encoding), stream=False)
        assert whole.outcome == "imported", whole.reason
        assert streamed.result.details == whole.result.details  # skipped pairs with their lines
        assert (streamed.result.stored, streamed.result.duplicate, streamed.result.filtered) == (
            whole.result.stored,
            whole.result.duplicate,
            whole.result.filtered,
        )
        assert _stored(db) == _stored(other_db)
    finally:
        other_db.dispose()


WRONG = [
    ("Q&A pairs under an unknown key", "rsi_qa_pairs.json", {"indicator": "RSI", "results": 0}),
    ("an export that is a list", "database_qa_export_2.json", 0),
]


@pytest.mark.parametrize(("case", "rel", "value"), WRONG, ids=[w[0] for w in WRONG])
def test_a_large_file_of_the_wrong_shape_is_rejected_from_its_top_unread(
    settings: Settings,
    db: Database,
    other: Settings,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    rel: str,
    value: object,
) -> None:
    """Valid JSON under the wrong key: rejected with the whole read's reason, word for word,
    without parsing its pairs (read whole, a 1 GB one would take several GB)."""
    pairs = _pairs()
    content = _json({**value, "results": pairs} if isinstance(value, dict) else pairs)
    path = _write(settings.root_path, rel, content, "utf-8")
    with monkeypatch.context() as never:
        never.setattr("daemon.ingest.pipeline.read_whole", _no_whole_read)
        streamed = _run(settings, db, path, stream=True)
    assert streamed.outcome == "rejected"
    other_db = Database(other.url)
    try:
        prepare(other, other_db)
        whole = _run(other, other_db, _write(other.root_path, rel, content, "utf-8"), stream=False)
    finally:
        other_db.dispose()
    assert streamed.reason == whole.reason
    assert streamed.reason is not None and "expected" in streamed.reason
    assert _stored(db) == []
    with db.reader() as db_session:
        record = db_session.scalars(select(FileRecord)).one()
    assert (record.outcome, record.archive_path is not None) == ("rejected", True)


# ------------------------------------------------------------------ a fault in the middle

BAD_AT = 1_234  # the pair with the fault (1-based)


def _broken(pairs: list[object]) -> list[object]:
    """The pairs, the one at ``BAD_AT`` to be written without the comma after its question."""
    return [*pairs[: BAD_AT - 1], "BROKEN", *pairs[BAD_AT:]]


def _with_fault(text: str) -> str:
    return text.replace('"BROKEN"', '{"question": "Broken?" "answer": "no colon, no comma"}')


# (name, file, text, encoding, what the reason says after "line N, column M: ")
FAULTS: list[tuple[str, str, str, str, str]] = [
    (
        "list on one line",
        "late_fault_qa_pairs.json",
        _with_fault(_json(_broken(_pairs()))),
        "utf-8",
        f"invalid JSON at pair {BAD_AT}: unexpected character, expected ',' or '}}'",
    ),
    (
        "object, indented",
        "late_fault_qa_pairs.json",
        _with_fault(_json({**META, "qa_pairs": _broken(_pairs())}, indent=2)),
        "utf-8",
        f"invalid JSON at pair {BAD_AT}: unexpected character",
    ),
    (
        "object in UTF-16",
        "late_fault_qa_pairs.json",
        _with_fault(_json({**META, "qa_pairs": _broken(_pairs())})),
        "utf-16",
        f"invalid JSON at pair {BAD_AT}: unexpected character",
    ),
    (
        "JSON Lines",
        "late_fault_qa_pairs.jsonl",
        _with_fault(_lines(_broken(_pairs()))),
        "utf-8",
        f"invalid JSON on line {BAD_AT}: unexpected character",
    ),
]


def _rejected(root: Path) -> dict[str, dict[str, Any]]:
    path = root / "inbox" / "droid" / "status.json"
    status = read_json_object(path) if path.exists() else {}
    return {entry["path"]: entry for entry in status.get("rejected", [])}


def test_a_fault_in_the_middle_of_each_streamed_shape_rejects_it_whole_and_the_daemon_goes_on(
    settings: Settings, start_daemon: Callable[..., Daemon]
) -> None:
    start_daemon(stream_min_bytes=1)
    staging = settings.root_path.parent / f"{settings.root_path.name}-staging"  # outside the tree
    expected = {}
    for number, (_, rel, text, encoding, reason) in enumerate(FAULTS):
        rel = f"f{number}/{rel}"
        written = _write(staging, rel, text, encoding)
        line = 1 + text[: text.index("Broken?")].count("\n")
        expected[f"outbox/droid/{rel}"] = (line, reason)
        target = settings.root_path / "outbox" / "droid" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(written, target)  # written elsewhere, then moved in: how agents deliver
    rejected = wait_for(
        lambda: len(_rejected(settings.root_path)) == len(FAULTS) and _rejected(settings.root_path),
        timeout=60,
        what="every faulty file rejected",
    )
    for path, (line, reason) in expected.items():
        said = rejected[path]["reason"]
        assert said.startswith(f"{path}, line {line}, column "), said
        assert reason in said, said
    assert count_rows(settings, QAPairRow) == 0  # nothing of them stored
    assert count_rows(settings, FileRecord) == len(FAULTS)
    # the daemon carries on: a good streamed file after them is imported whole
    good = _write(staging, "good_qa_pairs.json", _json({**META, "qa_pairs": _pairs()}), "utf-8")
    os.rename(good, settings.root_path / "outbox" / "droid" / "good_qa_pairs.json")
    wait_for(
        lambda: count_rows(settings, QAPairRow) >= PAIRS - 10,
        timeout=60,
        what="the good file after the faulty ones",
    )
