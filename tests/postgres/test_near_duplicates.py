"""Near-duplicates with several hosts on one PostgreSQL: two daemon processes, each watching
its own folders, find each other's pairs (the index is in the database); ``dedup --rebuild``
runs on PostgreSQL as on SQLite; a pair committed late (a lower id after a higher one was
read) is still read."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import aliased

from daemon.cli.app import EXIT_OK
from daemon.neardup.index import BandIndex
from daemon.neardup.matcher import record
from daemon.neardup.signature import U64, fingerprints
from daemon.neardup.text import shingles
from daemon.store.engine import Database
from daemon.store.models import NearSignature, QAPairRow
from tests.neardup.conftest import write_pairs
from tests.neardup.test_import import FIRST, SECOND
from tests.reliability.daemon_process import DaemonProcess
from tests.support import Run, wait_for

AGENTS = ("droid", "claude", "gemini")


def marks(db: Database) -> dict[str, str | None]:
    """Each stored question -> the question it is marked as resembling."""
    other = aliased(QAPairRow)
    with db.reader() as session:
        found = session.execute(
            select(QAPairRow.question, other.question).outerjoin(
                other, other.qa_id == QAPairRow.near_duplicate_of
            )
        ).all()
    return {question: of for question, of in found}


def stored(db: Database) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count(QAPairRow.qa_id))) or 0


def host_root(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    for box in ("inbox", "outbox"):
        for agent in AGENTS:
            (root / box / agent).mkdir(parents=True)
    return root


@pytest.fixture
def two_hosts(tmp_path: Path, postgres_url: str) -> Iterator[tuple[DaemonProcess, DaemonProcess]]:
    env = {"INBOXD_DATABASE_URL": postgres_url, "INBOXD_NEAR_DUPLICATE_POLICY": "flag"}
    daemons = (
        DaemonProcess(host_root(tmp_path, "host_a"), (), **env),
        DaemonProcess(host_root(tmp_path, "host_b"), (), **env),
    )
    try:
        for daemon in daemons:
            daemon.wait_ready(120)
        yield daemons
        for daemon in daemons:
            daemon.signal(signal.SIGTERM)
        assert [daemon.wait_exit(60) for daemon in daemons] == [0, 0]
    finally:
        for daemon in daemons:
            daemon.kill()


def test_two_daemons_on_postgresql_see_each_others_pairs(
    two_hosts: tuple[DaemonProcess, DaemonProcess], postgres_url: str
) -> None:
    host_a, host_b = two_hosts
    db = Database(postgres_url)
    try:
        write_pairs(host_a.root, "rsi_1_qa_pairs.json", FIRST)
        wait_for(lambda: stored(db) == 3, 60, "host A's pairs")
        write_pairs(host_b.root, "rsi_2_qa_pairs.json", SECOND)
        wait_for(lambda: stored(db) == 8, 60, "host B's pairs")
        # and back: host A's next file repeats a question only host B stored
        write_pairs(host_a.root, "rsi_3_qa_pairs.json", [SECOND[4][:-1] + " in practice?"])
        wait_for(lambda: stored(db) == 9, 60, "host A's second file")
        found = marks(db)
        assert found[SECOND[0]] == FIRST[0]
        assert found[SECOND[1]] == FIRST[1]
        assert found[SECOND[4][:-1] + " in practice?"] == SECOND[4]
        assert [found[q] for q in FIRST + SECOND[2:]] == [None] * 6
    finally:
        db.dispose()


def test_dedup_rebuild_on_postgresql(
    run: Run, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = host_root(tmp_path, "root")
    write_pairs(root, "rsi_1_qa_pairs.json", FIRST + SECOND)
    monkeypatch.setenv("INBOXD_NEAR_DUPLICATE_POLICY", "off")
    args = ("--root", str(root), "--database", postgres_url)
    assert run("scan", *args)[0] == EXIT_OK
    monkeypatch.setenv("INBOXD_NEAR_DUPLICATE_POLICY", "flag")
    code, out = run("dedup", "--rebuild", *args)
    assert code == EXIT_OK, out
    assert "pairs indexed: 8, near-duplicates marked: 2" in out
    db = Database(postgres_url)
    try:
        found = marks(db)
        assert (found[SECOND[0]], found[SECOND[1]]) == (FIRST[0], FIRST[1])
        with db.reader() as session:
            assert session.scalar(select(func.count()).select_from(NearSignature)) == 8
    finally:
        db.dispose()


def _store_pair(connection: Connection, question: str) -> tuple[int, U64]:
    """A pair and its signature, written on ``connection`` (its transaction left open):
    its id and band keys."""
    qa_id = connection.execute(
        insert(QAPairRow)
        .values(question=question, answer="An answer.", question_key=question.lower())
        .returning(QAPairRow.qa_id)
    ).scalar_one()
    prints = fingerprints([shingles(question, "RSI")])
    record(connection, [qa_id], prints)
    return qa_id, prints.keys


def test_a_pair_committed_after_a_higher_id_was_read_is_read_later(db: Database) -> None:
    """PostgreSQL's ids come from a sequence: a transaction holding a lower id may commit
    after a higher one was read. The look that read the higher id notes the gap and reads
    again from there until every transaction then running has ended."""
    index = BandIndex()
    index.refresh(db.engine)
    with db.engine.connect() as slow, db.engine.connect() as fast:
        slow.begin()
        low_id, low_keys = _store_pair(slow, "What does the RSI measure on the daily chart?")
        with fast.begin():
            high_id, high_keys = _store_pair(fast, "How is the RSI computed from closes?")
        assert low_id < high_id
        index.refresh(db.engine)
        assert index.candidates(high_keys) == {0: {high_id}}
        assert index.candidates(low_keys) == {}  # not committed yet
        assert [late.missing for late in index.late] == [{low_id}]  # the gap, watched
        slow.commit()
    index.refresh(db.engine)
    assert index.candidates(low_keys) == {0: {low_id}}
    assert index.late == [] and index.pairs == 2  # found: no longer watched, read once
    index.refresh(db.engine)
    assert index.pairs == 2
