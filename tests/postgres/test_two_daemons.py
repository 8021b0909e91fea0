"""Two daemons, one shared folder (polled), one PostgreSQL database: 5,000 files of which one
in five repeats an earlier question, some under the same indicator, some under another.
Each question is stored once, each file has one ledger row, and pair numbers run 1..n per
indicator with no gap and no repeat."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, func, select

from daemon.store.engine import Database
from daemon.store.models import FileRecord, Indicator, QAPairRow
from tests.reliability.daemon_process import DaemonProcess
from tests.support import wait_for

TOTAL = 5_000
INDICATORS = ("OBV", "MFI", "VWAP", "RSI", "MACD", "Funding Rate", "Hash Ribbons")

# One file, one pair. File i repeats an earlier question when i % 5 == 4 (20%): one of the
# three before it, so both daemons tend to hold the two files at the same moment; every other
# such file keeps the original's indicator (turns taken per indicator), the rest use their own
# (the question's unique key decides).
WRITER = """
import json, os, sys
folder, count, names = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
for i in range(count):
    q = i - 1 - (i // 5) % 3 if i % 5 == 4 else i
    indicator = names[q % len(names)] if (i // 5) % 2 else names[i % len(names)]
    tmp = os.path.join(folder, f".f{i:05d}.json")
    with open(tmp, "w") as handle:
        json.dump({"indicator": indicator, "qa_pairs": [
            {"question": f"Shared question {q}?", "answer": f"Answer {q} from file {i}."}]},
            handle)
    os.rename(tmp, os.path.join(folder, f"f{i:05d}.json"))
"""


def _count(db: Database, what: ColumnElement[int]) -> int:
    with db.reader() as db_session:
        return db_session.scalar(select(what)) or 0


@pytest.mark.timeout(1200)
def test_two_daemons_on_one_shared_folder_store_each_question_once(
    root: Path, postgres_url: str
) -> None:
    # polling as on a network share; a 2 s settle time polls every second (not every 0.1 s:
    # each poll lists all 5,000 files)
    env = {
        "INBOXD_DATABASE_URL": postgres_url,
        "INBOXD_POLLING": "true",
        "INBOXD_SETTLE_SECONDS": "2",
    }
    # they start together
    daemons = [DaemonProcess(root, (), **env), DaemonProcess(root, (), **env)]
    db = Database(postgres_url)
    try:
        for daemon in daemons:
            daemon.wait_ready(120)
        folder = root / "outbox/droid/shared"
        folder.mkdir()
        subprocess.run(
            [sys.executable, "-c", WRITER, str(folder), str(TOTAL), ",".join(INDICATORS)],
            check=True,
            timeout=600,
        )
        wait_for(
            lambda: _count(db, func.count(FileRecord.id)) >= TOTAL, 900, "every file in the ledger"
        )
        for daemon in daemons:
            daemon.signal(signal.SIGTERM)
        assert [daemon.wait_exit(60) for daemon in daemons] == [0, 0]

        with db.reader() as db_session:
            ledger = db_session.execute(
                select(
                    FileRecord.rel_path,
                    FileRecord.outcome,
                    FileRecord.pairs_delivered,
                    FileRecord.pairs_stored,
                    FileRecord.pairs_duplicate,
                )
            ).all()
            pairs = db_session.execute(
                select(
                    QAPairRow.question,
                    QAPairRow.question_key,
                    QAPairRow.indicator_name,
                    QAPairRow.pair_number,
                )
            ).all()
            indicators = db_session.scalars(select(Indicator.indicator_name)).all()
    finally:
        db.dispose()
        for daemon in daemons:
            daemon.kill()

    # each file: one ledger row, imported, its pair counted once as stored or duplicate
    assert len(ledger) == TOTAL
    assert len({row.rel_path for row in ledger}) == TOTAL
    assert {row.outcome for row in ledger} == {"imported"}
    assert all(row.pairs_stored + row.pairs_duplicate == row.pairs_delivered == 1 for row in ledger)
    assert sum(row.pairs_duplicate for row in ledger) == TOTAL // 5
    # each unique question stored exactly once
    expected = {f"Shared question {i}?" for i in range(TOTAL) if i % 5 != 4}
    assert sorted(p.question for p in pairs) == sorted(expected)
    assert len({p.question_key for p in pairs}) == len(pairs)
    assert sum(row.pairs_stored for row in ledger) == len(pairs)
    # one row per indicator; numbers 1..n per indicator, no gap, no repeat
    assert sorted(indicators) == sorted(INDICATORS)
    numbers: dict[str, list[int]] = {}
    for pair in pairs:
        numbers.setdefault(pair.indicator_name, []).append(pair.pair_number)
    for name, got in numbers.items():
        assert sorted(got) == list(range(1, len(got) + 1)), name
    # both daemons did part of the work; the other one's files were claimed, not redone
    imported = [sum(1 for e in d.events() if e.get("event") == "file.imported") for d in daemons]
    assert sum(imported) == TOTAL and min(imported) > 0, imported
