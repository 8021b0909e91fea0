"""A large file read by the second process (``daemon/ingest/stream_worker.py``): the same
rows as when it is read here, and nothing lost or doubled when that process is busy, dies
half-way, or its file's import fails half-way."""

from __future__ import annotations

import fcntl
import io
import json
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from daemon.config import Settings
from daemon.errors import TransientError
from daemon.ingest import stream_worker
from daemon.ingest.importers import qa
from daemon.ingest.oneshot import prepare
from daemon.ingest.pipeline import Pipeline
from daemon.ingest.preparing import StreamRequest
from daemon.ingest.stream_worker import StreamWorker
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow

SESSIONS, PER_SESSION = 6, 400  # 2,400 pairs: three chunks


def export_bytes(tag: str = "") -> bytes:
    """An export whose pairs set every flag now and then, with near-duplicate questions."""
    sessions: list[Any] = []
    n = 0
    for s in range(SESSIONS):
        pairs = []
        for i in range(PER_SESSION):
            n += 1
            answer = ["Plain words.", "For example x = 2.", "According to a study.", "BTC"][n % 4]
            question = f"How does indicator {tag}{s} behave in case {i % 150} on day {n}?"
            if i % 100 in (1, 2):  # the second a near-duplicate of the first
                word = ("alpha", "beta", "gamma", "delta")[i // 100]
                filler = " in practice" if i % 100 == 2 else ""
                question = f"Explain how {word} {tag}{s} measures momentum strength{filler}"
            pairs.append({"question": question, "answer": f"{answer} Answer {n}."})
        pairs.append({"question": "No answer here?"})  # skipped, with its reason
        sessions.append({"session_id": s + 1, "topic": f"Topic {tag}{s}", "qa_pairs": pairs})
    return json.dumps({"export_date": "2025-11-01", "sessions": sessions}, indent=1).encode()


def streaming(settings: Settings, *, worker: bool = True) -> Settings:
    return settings.model_copy(update={"stream_min_bytes": 1, "stream_worker": worker})


def deliver(settings: Settings, data: bytes, name: str = "database_qa_export_1.json") -> Path:
    path = settings.root_path / "outbox" / "claude" / name
    path.write_bytes(data)
    return path


def rows(db: Database) -> list[tuple[Any, ...]]:
    columns = [c for c in QAPairRow.__table__.columns if c.name != "created_date"]
    with db.reader() as db_session:
        return [tuple(r) for r in db_session.execute(select(*columns).order_by(QAPairRow.qa_id))]


def stored(db: Database) -> int:
    with db.reader() as db_session:
        return db_session.scalar(select(func.count()).select_from(QAPairRow)) or 0


REAL_NEXT_MESSAGE = StreamWorker.next_message


def killed_at_its_first_chunk(self: StreamWorker) -> tuple[Any, ...]:
    """``next_message`` for a second process that dies once it has sent a chunk (a real
    kill of the real child): the message after is never read."""
    message = REAL_NEXT_MESSAGE(self)
    if message[0] == "chunk" and self._child is not None:
        self._child.kill()
        self._child.wait()
    return message


@pytest.fixture
def here(tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    """A second root whose large files are read in this process."""
    settings = Settings(root=tmp_path / "here", settle_seconds=0.2, rescan_seconds=3600)
    (settings.root_path / "outbox" / "claude").mkdir(parents=True)
    database = Database(settings.url)
    prepare(settings, database)
    yield streaming(settings, worker=False), database
    database.dispose()


def test_the_second_process_stores_what_this_one_stores(
    settings: Settings, db: Database, here: tuple[Settings, Database]
) -> None:
    worker = stream_worker.shared()
    served = worker.served
    data = export_bytes()
    remote = Pipeline(streaming(settings), db).process(deliver(settings, data))
    local = Pipeline(here[0], here[1]).process(deliver(here[0], data))
    assert worker.served == served + 1  # read there, to its end
    assert (remote.outcome, local.outcome) == ("imported", "imported"), remote.reason
    assert remote.result.stored == local.result.stored == SESSIONS * PER_SESSION
    assert remote.result.near_duplicate == local.result.near_duplicate > 0
    assert remote.result.skipped == local.result.skipped == SESSIONS
    assert remote.result.details == local.result.details  # reasons, examples, comparison
    assert rows(db) == rows(here[1])  # keys, flags, pair numbers, near-duplicate marks


def test_a_busy_second_process_leaves_the_file_to_this_one(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    worker = stream_worker.shared()
    other = tmp_path / "other.json"
    other.write_bytes(export_bytes("other"))
    request = StreamRequest(other, _context(), "export", None, None)
    holding = worker.open(request)  # another file, not read yet: the process is busy
    assert holding is not None
    served = worker.served
    try:
        outcome = Pipeline(streaming(settings), db).process(deliver(settings, export_bytes()))
    finally:
        holding.close()
    assert outcome.outcome == "imported", outcome.reason
    assert outcome.result.stored == SESSIONS * PER_SESSION == stored(db)
    assert worker.served == served  # read here


def test_a_second_process_that_dies_half_way_leaves_the_file_to_be_tried_again(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = StreamWorker()  # its own: killed here
    monkeypatch.setattr(stream_worker, "shared", lambda: worker)
    monkeypatch.setattr(StreamWorker, "next_message", killed_at_its_first_chunk)
    pipeline = Pipeline(streaming(settings), db)
    path = deliver(settings, export_bytes())
    with pytest.raises(TransientError, match="second process"):
        pipeline.process(path)
    assert stored(db) == 0  # the first chunk's rows were rolled back with the rest
    monkeypatch.setattr(StreamWorker, "next_message", REAL_NEXT_MESSAGE)
    again = pipeline.process(path)
    assert again.outcome == "imported", again.reason
    assert again.result.stored == SESSIONS * PER_SESSION == stored(db)
    assert worker.served == 1  # a new second process read it
    worker.close()


def test_a_file_whose_import_fails_half_way_ends_the_read_and_the_next_is_read_there(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = stream_worker.shared()
    real_insert = qa._insert
    inserts: list[int] = []

    def failing_second_chunk(ictx: Any, batch: list[dict[str, Any]]) -> int:
        inserts.append(len(batch))
        if len(inserts) == 2:
            raise RuntimeError("an importer's bug")
        return real_insert(ictx, batch)

    monkeypatch.setattr(qa, "_insert", failing_second_chunk)
    pipeline = Pipeline(streaming(settings), db)
    failed = pipeline.process(deliver(settings, export_bytes()))
    assert failed.outcome == "failed" and "an importer's bug" in (failed.reason or "")
    assert stored(db) == 0
    monkeypatch.setattr(qa, "_insert", real_insert)
    served = worker.served
    outcome = pipeline.process(deliver(settings, export_bytes("next"), "database_qa_export_2.json"))
    assert outcome.outcome == "imported", outcome.reason
    assert outcome.result.stored == SESSIONS * PER_SESSION == stored(db)
    assert worker.served == served + 1
    with db.reader() as db_session:
        outcomes = sorted(db_session.scalars(select(FileRecord.outcome)))
    assert outcomes == ["failed", "imported"]


def _context() -> Any:
    from pathlib import PurePosixPath

    from handlers.contract import FileContext

    return FileContext("claude", "outbox", PurePosixPath("database_qa_export_9.json"))


def test_a_file_that_kills_the_second_process_each_time_is_read_here_after_two(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = StreamWorker()
    monkeypatch.setattr(stream_worker, "shared", lambda: worker)
    monkeypatch.setattr(StreamWorker, "next_message", killed_at_its_first_chunk)
    pipeline = Pipeline(streaming(settings), db)
    path = deliver(settings, export_bytes())
    for _ in range(stream_worker.LOSSES_TOLERATED):
        with pytest.raises(TransientError, match="second process"):
            pipeline.process(path)
    assert not worker.usable and stored(db) == 0
    outcome = pipeline.process(path)  # read here now
    assert outcome.outcome == "imported", outcome.reason
    assert outcome.result.stored == SESSIONS * PER_SESSION == stored(db)
    assert worker.served == 0
    worker.close()


def test_messages_are_read_one_at_a_time_and_one_cut_short_is_the_end() -> None:
    sent = io.BytesIO()
    messages = [("opened", {"indicator": "RSI"}), ("chunk", list(range(50_000))), ("end", 0)]
    for message in messages:
        stream_worker.send(sent, message)
    whole = sent.getvalue()
    source = io.BufferedReader(io.BytesIO(whole))
    assert [stream_worker.receive(source) for _ in messages] == messages
    assert stream_worker.receive(source) is None  # nothing more: the other side is gone
    cut = io.BufferedReader(io.BytesIO(whole[: len(whole) // 2]))
    assert stream_worker.receive(cut) == messages[0]
    assert stream_worker.receive(cut) is None  # died in the middle of the chunk


def test_a_chunk_is_let_go_before_the_next_is_received(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file's memory is one chunk: the importer and the stream hold none while the
    next is read from the pipe."""
    earlier: list[weakref.ref[Any]] = []
    held: list[int] = []

    def noting(self: StreamWorker) -> tuple[Any, ...]:
        held.append(sum(ref() is not None for ref in earlier))
        message = REAL_NEXT_MESSAGE(self)
        if message[0] == "chunk":
            earlier.append(weakref.ref(message[1]))
        return message

    monkeypatch.setattr(StreamWorker, "next_message", noting)
    outcome = Pipeline(streaming(settings), db).process(deliver(settings, export_bytes()))
    assert outcome.outcome == "imported", outcome.reason
    assert len(earlier) == 3 and held == [0] * len(held)


def test_the_chunks_pipe_is_widened_where_the_system_allows() -> None:
    """A chunk crosses in a few turns of the two processes rather than one per 64 KiB."""
    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    get_size = fcntl.F_GETPIPE_SZ  # Linux, where the tests run
    worker = StreamWorker()
    try:
        worker.start()
        child = worker._child
        assert child is not None and child.stdout is not None
        expected = stream_worker.PIPE_BYTES if limit >= stream_worker.PIPE_BYTES else 65536
        assert fcntl.fcntl(child.stdout.fileno(), get_size) == expected
    finally:
        worker.close()
