"""Issue 14, point 6: a completion signal copied with its delivery closes the whole batch.

``cp -r`` copies a tree in the order it lists it, each file created, written and closed in
place (no rename). When the signal comes first, its close event makes it ready at once while
the data files copied in the same second are still arriving: the signal must wait for every
data file of the same agent that is queued, settling or being written.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.models import FileRecord, QAPairRow
from tests.support import SAMPLES, wait_for

SIGNAL = "ALL_SESSIONS_COMPLETE.txt"
DATA = ["session_02", "session_04", "rag_export_20251101.jsonl"]  # 13 pairs stored in all


def test_a_signal_copied_before_its_data_files_waits_for_them(
    settings: Settings, tmp_path: Path, start_daemon: Callable[..., Daemon]
) -> None:
    delivery = tmp_path / "delivery"
    for name in (SIGNAL, *DATA):
        source = SAMPLES / "outbox/droid" / name
        if source.is_dir():
            shutil.copytree(source, delivery / name)
        else:
            delivery.mkdir(exist_ok=True)
            shutil.copyfile(source, delivery / name)
    daemon = start_daemon()
    outbox = settings.root_path / "outbox/droid"
    # one real cp -r, the signal first: cp copies its arguments in the order given
    subprocess.run(
        ["cp", "-r", *(str(delivery / name) for name in (SIGNAL, *DATA)), str(outbox)],
        check=True,
    )
    wait_for(lambda: daemon.counts["imported"] == 6, 20, "the signal and 5 data files")
    assert daemon.join(10)
    with daemon.db.reader() as db_session:
        order = list(db_session.scalars(select(FileRecord.rel_path).order_by(FileRecord.id)))
        stored = db_session.scalar(select(func.count()).select_from(QAPairRow))
        handed = db_session.scalar(
            select(func.count()).select_from(QAPairRow).where(QAPairRow.handed_at.is_not(None))
        )
    assert order[-1] == f"outbox/droid/{SIGNAL}", f"the signal was taken before {order[-1]}"
    assert stored == handed == 13, f"{stored} pairs stored, {handed} handed by the signal"
