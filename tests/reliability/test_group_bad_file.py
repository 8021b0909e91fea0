"""A bad file inside a group: rejected with its reason (file, line, column) in its agent's
status and the log, while every other file of the group is imported once."""

from __future__ import annotations

import os
import signal
import time

import orjson
from sqlalchemy import func, select

from daemon.config import Settings
from daemon.store.engine import Database
from daemon.store.models import FileRecord, QAPairRow
from tests.reliability.daemon_process import DaemonProcess
from tests.support import read_status, wait_for

GOOD = 60
BAD = ("group_007.json", "group_033.json")


def test_bad_files_inside_a_group_are_rejected_alone_with_their_reasons(
    settings: Settings, processes: list[DaemonProcess]
) -> None:
    root = settings.root_path
    folder = root / "outbox" / "droid"
    old = time.time() - 60  # at rest: the start's scan hands them out together
    for n in range(GOOD + len(BAD)):
        name = f"group_{n:03d}.json"
        path = folder / name
        if name in BAD:
            path.write_bytes(b'{"indicator": "RSI", "qa_pairs": [\n  {"question": "Half?",\n')
        else:
            pair = {"question": f"Grouped question {n}?", "answer": f"Grouped answer {n}."}
            path.write_bytes(orjson.dumps({"indicator": "RSI", "qa_pairs": [pair]}))
        os.utime(path, (old, old))
    daemon = DaemonProcess(root)
    processes.append(daemon)
    daemon.wait_ready()
    wait_for(
        lambda: len(read_status(root, "droid").get("rejected", [])) == len(BAD),
        60,
        "both bad files in droid's status",
    )
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(30) == 0

    groups = [e for e in daemon.events() if e.get("event") == "group.committed"]
    assert groups and max(e["files"] for e in groups) > 1, "the files were taken together"
    status = read_status(root, "droid")
    shown = {entry["path"]: entry["reason"] for entry in status["rejected"]}
    for name in BAD:
        reason = shown[f"outbox/droid/{name}"]
        assert name in reason and "line" in reason and "column" in reason, reason
    logged = [e for e in daemon.events() if e.get("event") == "file.rejected"]
    assert sorted(e["path"] for e in logged) == sorted(f"outbox/droid/{n}" for n in BAD)
    db = Database(settings.url)
    try:
        with db.reader() as db_session:
            assert db_session.scalar(select(func.count()).select_from(QAPairRow)) == GOOD
            outcomes = dict(
                db_session.execute(
                    select(FileRecord.outcome, func.count()).group_by(FileRecord.outcome)
                ).all()
            )
    finally:
        db.dispose()
    assert outcomes == {"imported": GOOD, "rejected": len(BAD)}
