"""Near-duplicates with several hosts on one PostgreSQL: two daemon processes, each watching
its own folders, find each other's pairs (the index is in the database); ``dedup --rebuild``
runs on PostgreSQL as on SQLite."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from daemon.cli.app import EXIT_OK
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
