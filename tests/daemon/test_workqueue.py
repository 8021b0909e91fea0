"""The work queue: one entry per path, bursts coalesced, unfinished files waited for."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from daemon.live.workqueue import WorkQueue
from tests.support import wait_for

SETTLE = 0.2  # short, but long enough that "not yet" right after a put is not a race
LONG_SETTLE = 30.0  # a settle no test waits out: anything handed out under it was due at once


def _file(tmp_path: Path, name: str = "a_qa_pairs.json", text: str = "[]") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _wait_until_due(put_at: float, settle: float = SETTLE) -> None:
    """Wait out the settle time itself: the entry is due from here on."""
    wait_for(
        lambda: time.monotonic() >= put_at + settle,
        timeout=settle + 5,
        what="the settle time to pass",
    )


def test_a_burst_of_events_for_one_path_is_handed_out_once(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    path = _file(tmp_path)
    for _ in range(20):
        queue.put(path, ready=False)
    for _ in range(20):
        queue.put(path, ready=True)
    assert queue.depth() == 1
    assert queue.get(timeout=5) == path
    assert queue.get(timeout=0.05) is None
    assert queue.depth() == 0


def test_events_for_different_paths_are_kept_apart(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    first, second = _file(tmp_path, "a.json"), _file(tmp_path, "b.json")
    for _ in range(5):
        queue.put(first, ready=True)
        queue.put(second, ready=True)
    assert queue.depth() == 2
    handed = {queue.get(timeout=5), queue.get(timeout=5)}
    assert handed == {first, second}
    assert queue.get(timeout=0.05) is None


def test_a_ready_entry_is_due_at_once_whatever_the_settle_time(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    path = _file(tmp_path)
    queue.put(path, ready=True)
    assert queue.get(timeout=5) == path


def test_a_close_event_makes_a_waiting_entry_due_at_once(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    path = _file(tmp_path)
    queue.put(path, ready=False)
    assert queue.get(timeout=0) is None
    queue.put(path, ready=True)
    assert queue.get(timeout=5) == path


def test_a_later_modify_event_does_not_hold_back_a_closed_file(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    path = _file(tmp_path)
    queue.put(path, ready=True)
    queue.put(path, ready=False)
    assert queue.get(timeout=5) == path


def test_a_ready_entry_comes_before_one_still_settling(tmp_path: Path) -> None:
    queue = WorkQueue(SETTLE)
    settling, closed = _file(tmp_path, "settling.json"), _file(tmp_path, "closed.json")
    queue.put(settling, ready=False)
    queue.put(closed, ready=True)
    assert queue.get(timeout=5) == closed
    assert queue.get(timeout=5) == settling


def test_a_not_ready_entry_is_held_until_the_settle_time_has_passed(tmp_path: Path) -> None:
    queue = WorkQueue(SETTLE)
    path = _file(tmp_path)
    put_at = time.monotonic()
    queue.put(path, ready=False)
    assert queue.get(timeout=0) is None
    assert queue.get(timeout=5) == path
    assert time.monotonic() - put_at >= SETTLE


def test_an_entry_is_rearmed_while_its_file_keeps_changing(tmp_path: Path) -> None:
    queue = WorkQueue(SETTLE)
    path = _file(tmp_path, text="[")
    armed_at = time.monotonic()
    queue.put(path, ready=False)
    for part in range(3):
        _wait_until_due(armed_at)
        with path.open("a") as writer:  # the agent is still writing: size and mtime change
            writer.write(f'{{"q": "question {part}?", "a": "answer"}},')
        written_at = time.monotonic()
        assert queue.get(timeout=0) is None, f"handed out while still changing (write {part})"
        armed_at = time.monotonic()  # the look inside get() re-armed it no later than this
    assert queue.get(timeout=5) == path
    assert time.monotonic() - written_at >= SETTLE, "handed out before a quiet settle time"


def test_a_settled_file_that_stopped_changing_is_handed_out(tmp_path: Path) -> None:
    queue = WorkQueue(SETTLE)
    path = _file(tmp_path, text="[")
    put_at = time.monotonic()
    queue.put(path, ready=False)
    _wait_until_due(put_at)
    path.write_text("[]")
    assert queue.get(timeout=0) is None
    assert queue.get(timeout=5) == path


def test_a_transient_retry_comes_back_after_its_delay(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    path = _file(tmp_path)
    queue.retry_later(path, 0.1)
    assert queue.get(timeout=5) == path


def test_wait_idle_is_false_while_entries_are_queued(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    queue.put(_file(tmp_path), ready=False)
    assert queue.wait_idle(0.05) is False


def test_wait_idle_is_false_while_a_path_is_being_processed(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    path = _file(tmp_path)
    queue.put(path, ready=True)
    assert queue.get(timeout=5) == path
    assert queue.depth() == 0
    assert queue.wait_idle(0.05) is False


def test_wait_idle_returns_true_once_done_is_called(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    path = _file(tmp_path)
    queue.put(path, ready=True)
    assert queue.get(timeout=5) == path
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(queue.wait_idle(10)))
    waiter.start()
    queue.done()
    waiter.join(10)
    assert results == [True]


def test_an_empty_queue_is_idle(tmp_path: Path) -> None:
    assert WorkQueue(LONG_SETTLE).wait_idle(0) is True


def test_take_hands_out_every_due_path_at_once_up_to_the_count(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    paths = [_file(tmp_path, f"f{i}.json") for i in range(7)]
    for path in paths:
        queue.put(path, ready=True)
    assert queue.take(timeout=5, max_files=5, max_bytes=10**9) == paths[:5]
    assert queue.take(timeout=5, max_files=5, max_bytes=10**9) == paths[5:]
    assert queue.take(timeout=0.05, max_files=5, max_bytes=10**9) == []


def test_take_stops_once_the_bytes_are_reached_and_always_takes_one(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    paths = [_file(tmp_path, f"f{i}.json", "x" * 100) for i in range(4)]
    for path in paths:
        queue.put(path, ready=True)
    # 100 bytes each: the second reaches 150, the group stops there
    assert queue.take(timeout=5, max_files=10, max_bytes=150) == paths[:2]
    # a single file over the bound is still taken (alone)
    assert queue.take(timeout=5, max_files=10, max_bytes=50) == [paths[2]]
    assert queue.take(timeout=5, max_files=10, max_bytes=10**9) == [paths[3]]


def test_take_never_waits_for_a_path_not_yet_due(tmp_path: Path) -> None:
    queue = WorkQueue(LONG_SETTLE)
    now, later = _file(tmp_path, "now.json"), _file(tmp_path, "later.json")
    queue.put(now, ready=True)
    queue.put(later, ready=False)  # settling for LONG_SETTLE
    assert queue.take(timeout=5, max_files=10, max_bytes=10**9) == [now]
    assert queue.depth() == 1
    queue.done()
