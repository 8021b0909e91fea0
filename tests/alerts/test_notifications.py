"""Notifications from a live daemon (real watchdog on a temporary root, real SQLite) to a
real HTTP receiver through apprise's ``json://`` URL.

"Exactly one" is checked after the daemon stopped: a stop sends whatever is still pending,
so a second notification would have arrived by then.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from daemon.alerts.watch import Watch
from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from daemon.store.models import FileRecord, SignalRow
from tests.alerts.conftest import Notifying, events
from tests.alerts.receiver import Receiver, alert_count, alert_lines
from tests.reliability.daemon_process import DaemonProcess
from tests.support import SAMPLES, deliver, read_status, wait_for

BAD = "bad/truncated_qa_pairs.json"  # a Q&A file cut off: a reason with line and column


def _outcomes(settings: Settings) -> dict[str, str]:
    db = Database(settings.url)
    try:
        with db.reader() as reader:
            rows = reader.execute(select(FileRecord.rel_path, FileRecord.outcome)).all()
            return {path: outcome for path, outcome in rows}
    finally:
        db.dispose()


def test_a_rejected_file_is_one_notification_naming_the_file_and_the_reason(
    settings: Settings, notifying_daemon: Notifying, receiver: Receiver
) -> None:
    daemon = notifying_daemon()
    deliver(settings.root_path, BAD, "outbox/droid/truncated_qa_pairs.json")
    got = wait_for(receiver.got, 30, "the rejection's notification")
    daemon.stop()
    assert len(receiver.got()) == 1
    message = got[0]
    assert message["title"] == "inboxd: file rejected (droid)"
    assert message["type"] == "failure"
    reason = _reason(settings, "outbox/droid/truncated_qa_pairs.json")
    assert "line" in reason and "column" in reason
    assert message["message"].splitlines()[0] == f"droid: {reason}"


def _watch(daemon: Daemon) -> Watch:
    assert daemon.alerts.watch is not None, "notifications are configured"
    return daemon.alerts.watch


def _reason(settings: Settings, path: str) -> str:
    db = Database(settings.url)
    try:
        with db.reader() as reader:
            found = reader.scalar(select(FileRecord.reason).where(FileRecord.rel_path == path))
            assert found is not None
            return found
    finally:
        db.dispose()


def test_a_burst_of_rejections_is_grouped_and_every_one_counted(
    settings: Settings, notifying_daemon: Notifying, receiver: Receiver
) -> None:
    burst = 200
    daemon = notifying_daemon(notify_group_seconds=1.0, notify_min_interval=3600)
    folder = settings.root_path / "outbox/droid/burst"
    folder.mkdir()
    for number in range(burst):
        tmp = folder / f"bad_{number:03d}_qa_pairs.json.part"
        shutil.copyfile(SAMPLES / BAD, tmp)
        tmp.rename(tmp.with_suffix(""))
    wait_for(
        lambda: sum(o == "rejected" for o in _outcomes(settings).values()) == burst,
        120,
        "every file of the burst rejected",
    )
    daemon.stop()  # sends what is still grouped
    got = receiver.got()
    assert 1 <= len(got) <= 2, [m["title"] for m in got]  # the first burst, then the rest
    assert sum(alert_count(m) for m in got) == burst
    grouped = [m for m in got if alert_count(m) > 1]
    assert grouped and grouped[0]["title"] == f"inboxd: {alert_count(grouped[0])} files rejected"
    for message in grouped:
        listed = alert_lines(message)
        assert len(listed) == settings.notify_examples  # the first few, then "and N more"
        assert all("outbox/droid/burst/bad_" in line for line in listed)
        assert "inboxd logs --event 'file.rejected'" in message["message"]


def test_notifications_arrive_after_the_receiver_was_down_for_a_while(
    settings: Settings, notifying_daemon: Notifying, receiver: Receiver, json_logs: Path
) -> None:
    receiver.down()
    daemon = notifying_daemon(notify_retries=100)
    deliver(settings.root_path, BAD, "outbox/droid/first_qa_pairs.json")
    wait_for(lambda: len(events(json_logs, "alert.failed")) >= 2, 30, "two failed attempts")
    deliver(settings.root_path, BAD, "outbox/claude/second_qa_pairs.json")
    wait_for(lambda: "outbox/claude/second_qa_pairs.json" in _outcomes(settings), 30, "second file")
    receiver.up()
    wait_for(lambda: sum(alert_count(m) for m in receiver.got()) == 2, 30, "both alerts")
    daemon.stop()
    lines = [line for message in receiver.got() for line in alert_lines(message)]
    assert len(lines) == 2
    assert any("first_qa_pairs.json" in line for line in lines)
    assert any("second_qa_pairs.json" in line for line in lines)
    assert events(json_logs, "alert.dropped") == []


def test_retries_are_bounded_and_a_message_given_up_is_logged(
    settings: Settings, notifying_daemon: Notifying, receiver: Receiver, json_logs: Path
) -> None:
    receiver.down()
    notifying_daemon(notify_retries=3)
    deliver(settings.root_path, BAD, "outbox/droid/truncated_qa_pairs.json")
    dropped = wait_for(lambda: events(json_logs, "alert.dropped"), 30, "the message dropped")
    assert dropped[0]["alerts"] == 1 and dropped[0]["attempts"] == 3
    assert [e["attempt"] for e in events(json_logs, "alert.failed")] == [1, 2]


def test_a_receiver_that_never_answers_does_not_slow_imports(
    settings: Settings, notifying_daemon: Notifying, receiver: Receiver
) -> None:
    receiver.hang = True
    # apprise would give up after 4 s by default: here it waits as long as the receiver
    daemon = notifying_daemon(notify_urls=[receiver.url + "?rto=600"])
    root = settings.root_path
    deliver(root, BAD, "outbox/droid/truncated_qa_pairs.json")
    wait_for(lambda: receiver.hanging == 1, 30, "the sender stuck in its request")
    delivered = []
    for number in range(20):
        rel = f"outbox/droid/session_02/copy_{number:02d}_sma_qa_pairs.json"
        deliver(root, "outbox/droid/session_02/sma_qa_pairs.json", rel)
        delivered.append(rel)
    deliver(root, BAD, "outbox/claude/another_qa_pairs.json")
    wait_for(
        lambda: all(_outcomes(settings).get(rel) == "imported" for rel in delivered),
        60,
        "every file imported while the sender is stuck",
    )
    assert daemon.join(30), "the status files written"
    status = read_status(root, "droid")
    assert {f["path"] for f in status["recent_files"]} >= set(delivered[-10:])
    assert _outcomes(settings)["outbox/claude/another_qa_pairs.json"] == "rejected"
    assert receiver.hanging == 1 and receiver.got() == []  # still stuck in the first send

    receiver.hang = False
    receiver.released.set()  # the hung request ends unanswered: a failed attempt, retried
    got = wait_for(receiver.got, 30, "the notifications once the receiver answers")
    daemon.stop()
    assert sum(alert_count(m) for m in receiver.got()) == 2, got


def test_a_closed_batch_is_one_notification_with_its_gap_summary(
    settings: Settings, notifying_daemon: Notifying, receiver: Receiver
) -> None:
    root = settings.root_path
    daemon = notifying_daemon(notify_events=["batch_closed"])
    for rel in ("inbox/droid/session-02-assignment.md", "inbox/droid/session-03-assignment.md"):
        deliver(root, rel)
    for name in ("sma", "ema"):
        deliver(root, f"outbox/droid/session_02/{name}_qa_pairs.json")
    wait_for(lambda: len(_outcomes(settings)) == 4, 30, "the assignments and deliveries")
    deliver(root, "outbox/droid/ALL_SESSIONS_COMPLETE.txt")
    got = wait_for(receiver.got, 30, "the batch's notification")
    daemon.stop()
    assert len(receiver.got()) == 1
    db = Database(settings.url)
    try:
        with db.reader() as reader:
            signal = reader.scalars(select(SignalRow)).one()
    finally:
        db.dispose()
    findings = signal.findings or {}
    assert findings["missing_sessions"] == [3]
    text = got[0]["message"].splitlines()[0]
    assert got[0]["title"] == "inboxd: batch 1 closed (droid)"
    assert text.startswith("droid: batch 1 closed; missing sessions 03; ")
    assert "indicators missing in sessions 02" in text  # wma was assigned, not delivered
    assert f"report {findings['gap_report']}" in text
    disagree = [c for c in findings["claims"] if not c["agrees"]]
    for claim in disagree:
        assert f"claims {claim['claim']} {claim['claimed']}, database {claim['database']}" in text


def test_a_silent_agent_is_told_once_per_change_of_state(
    settings: Settings, notifying_daemon: Notifying, receiver: Receiver
) -> None:
    root = settings.root_path
    silent = {"notify_events": ["agent_silent"], "silent_after": 1.0}
    daemon = notifying_daemon(**silent)
    deliver(root, "inbox/droid/session-02-assignment.md")
    wait_for(lambda: len(receiver.got()) == 1, 30, "droid's silence told")
    assert receiver.got()[0]["title"].startswith("inboxd: droid silent for ")
    watch = _watch(daemon)
    rounds = watch.rounds
    wait_for(lambda: watch.rounds >= rounds + 5, 30, "five more looks at the agents")
    assert len(receiver.got()) == 1, "a state is told once, not at every look"

    deliver(root, "outbox/droid/session_02/sma_qa_pairs.json")
    wait_for(lambda: len(receiver.got()) >= 2, 30, "droid delivering again")

    def told() -> list[str]:
        return [line for message in receiver.got() for line in alert_lines(message)]

    wait_for(lambda: len(told()) == 3, 30, "droid silent again (wma and ema still owed)")
    lines = told()
    assert lines[1] == "droid: delivering again (outbox/droid/session_02/sma_qa_pairs.json)"
    assert lines[2].startswith("droid: silent for ")
    assert "last file outbox/droid/session_02/sma_qa_pairs.json" in lines[2]
    daemon.stop()
    assert len(told()) == 3

    # a restart does not tell the same silence again
    restarted = notifying_daemon(**silent)
    again = _watch(restarted)
    wait_for(lambda: again.rounds >= 5, 30, "five looks at the agents after the restart")
    assert again.silent == {"droid"}
    restarted.stop()
    assert len(told()) == 3
    assert json.loads((root / "var/run/alerts.json").read_text()) == {"silent": ["droid"]}


def test_a_start_after_an_unclean_stop_is_told_once(
    settings: Settings,
    notifying_daemon: Notifying,
    receiver: Receiver,
    start_daemon: Callable[..., Daemon],
) -> None:
    root = settings.root_path
    killed = DaemonProcess(root)
    try:
        killed.wait_ready()
    finally:
        killed.kill()  # kill -9: no stop at all
    daemon = notifying_daemon(notify_events=["unclean_start"])
    got = wait_for(receiver.got, 30, "the unclean stop told")
    daemon.stop()  # warm
    again = notifying_daemon(notify_events=["unclean_start"])
    again.stop()
    assert len(receiver.got()) == 1
    assert got[0]["title"] == "inboxd: started after an unclean stop"
    assert f"(pid {killed.proc.pid})" in got[0]["message"]
    assert list((root / "var/run").glob("*.running")) == []


def test_files_waiting_for_the_database_are_told_then_its_return(
    settings: Settings, notifying_daemon: Notifying, receiver: Receiver
) -> None:
    daemon = notifying_daemon(
        notify_events=["database_waiting"],
        notify_waiting_after=1.0,
        db_busy_timeout=0.1,
        db_retry_seconds=0.3,
    )
    blocker = sqlite3.connect(settings.var_dir / "inboxd.db", timeout=5)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        deliver(settings.root_path, "outbox/droid/session_02/sma_qa_pairs.json")
        got = wait_for(receiver.got, 30, "the waiting told")
    finally:
        blocker.rollback()
        blocker.close()
    assert got[0]["title"].startswith("inboxd: files waiting for the database for ")
    assert "database unavailable" in got[0]["message"]
    wait_for(lambda: len(receiver.got()) == 2, 30, "the database's return told")
    daemon.stop()
    assert len(receiver.got()) == 2
    back = receiver.got()[1]
    assert back["title"] == "inboxd: database answering again" and back["type"] == "info"
    assert _outcomes(settings) == {"outbox/droid/session_02/sma_qa_pairs.json": "imported"}


def test_agent_strings_in_a_message_are_text_not_layout_or_mentions(
    settings: Settings, notifying_daemon: Notifying, receiver: Receiver
) -> None:
    name = "<b>@here *x*\nfake line_qa_pairs.json"
    daemon = notifying_daemon()
    deliver(settings.root_path, BAD, f"outbox/droid/{name}")
    got = wait_for(receiver.got, 30, "the rejection told")
    daemon.stop()
    text = got[0]["message"]
    line = text.splitlines()[0]
    assert line.startswith("droid: outbox/droid/<b>@\u2060here *x*\\nfake line_qa_pairs.json")
    assert "@here" not in text  # no mention: "@" is followed by a word joiner
    assert not any(row.startswith("fake line") for row in text.splitlines())  # one line kept
