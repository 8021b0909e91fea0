"""Files moved in, and files in new folders, are taken at once (issue 16).

A rename is atomic: a file moved in from outside the tree (how most agents deliver) arrives
whole, and a file already closed in a folder made a moment ago needs no settle window either.
"Taken at once" is shown without timing anything: the settle window is 30 s and every
import must come within a 10 s deadline, so only the at-once path can meet it. A move inside
the tree keeps its pairing, and a file still being written in a new folder is held until its
writer closes it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from watchdog.events import FileMovedEvent, FileSystemEvent, FileSystemEventHandler

from daemon.config import Settings
from daemon.live.inotify_attrib import MOVED_IN_FROM_OUTSIDE, AttribInotifyObserver
from daemon.live.service import Daemon
from daemon.live.watcher import INOTIFY_EVENTS, OpenFiles
from daemon.store.engine import Database
from tests.reliability.probes import (
    has_question,
    ledger_rows,
    pair_count,
    qa_document,
    unique_question,
    write_then_rename,
)
from tests.support import wait_for

SETTLE = 30.0  # no import can come from the settle window within the deadline
DEADLINE = 10.0


@pytest.fixture
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the root, on the same file system (a rename, not a copy)."""
    return tmp_path_factory.mktemp("elsewhere")


@pytest.fixture
def daemon(start_daemon: Callable[..., Daemon]) -> Daemon:
    """A live daemon whose settle window is far longer than the deadline."""
    return start_daemon(settle_seconds=SETTLE)


def _written_outside(folder: Path, name: str, *questions: str) -> Path:
    path = folder / name
    path.write_bytes(qa_document(*questions))
    return path


def _imported_once(db: Database, rel: str, pairs: int) -> None:
    assert [(r.outcome, r.pairs_stored) for r in ledger_rows(db, rel)] == [("imported", pairs)]


def test_file_written_outside_the_root_then_moved_in_is_imported_within_the_deadline(
    settings: Settings, db: Database, daemon: Daemon, elsewhere: Path
) -> None:
    question = unique_question("Moved in from outside")
    source = _written_outside(elsewhere, "obv_qa_pairs.json", question)
    rel = "outbox/droid/obv_qa_pairs.json"
    os.rename(source, settings.root_path / rel)
    wait_for(partial(has_question, db, question), timeout=DEADLINE, what=f"{rel} imported")
    assert daemon.join(5)
    _imported_once(db, rel, 1)
    assert daemon.counts["imported"] == 1


def test_file_renamed_from_a_part_name_inside_the_tree_is_imported_once(
    settings: Settings, db: Database, daemon: Daemon
) -> None:
    question = unique_question("Renamed from .part")
    rel = "outbox/droid/rsi_qa_pairs.json"
    write_then_rename(settings.root_path / rel, qa_document(question))
    wait_for(partial(has_question, db, question), timeout=DEADLINE, what=f"{rel} imported")
    assert daemon.join(5)
    assert [(r.rel_path, r.outcome) for r in ledger_rows(db)] == [(rel, "imported")]
    assert daemon.counts["imported"] == 1


def test_file_moved_from_one_agent_folder_to_another_is_handled_once_in_each(
    settings: Settings, db: Database, daemon: Daemon
) -> None:
    root = settings.root_path
    first, second = unique_question("Moved between agents"), unique_question("Second")
    source = "outbox/droid/macd_qa_pairs.json"
    write_then_rename(root / source, qa_document(first, second))
    wait_for(partial(has_question, db, first), timeout=DEADLINE, what=f"{source} imported")
    moved = "outbox/claude/macd_qa_pairs.json"
    os.rename(root / source, root / moved)
    wait_for(lambda: ledger_rows(db, moved), timeout=DEADLINE, what=f"{moved} handled")
    assert daemon.join(5)
    assert [r.rel_path for r in ledger_rows(db)] == [source, moved]  # each path once
    _imported_once(db, source, 2)
    assert pair_count(db) == 2  # the moved copy's pairs are the same pairs
    assert daemon.counts["imported"] == 2
    assert daemon.counts["worker_error"] == 0


@pytest.mark.parametrize("depth", ["session_new", "session_new/a/b"])
def test_closed_file_moved_into_a_folder_made_a_moment_ago_is_imported_within_the_deadline(
    settings: Settings, db: Database, daemon: Daemon, elsewhere: Path, depth: str
) -> None:
    """Several new folders, each with its file moved in at once: whether the file came
    before the folder's watch (found by the walk) or after (its own event), no settle."""
    expected = []
    for n in range(5):
        folder = settings.root_path / "outbox/droid" / f"{depth}_{n}"
        question = unique_question(f"New folder {n}")
        source = _written_outside(elsewhere, f"f{n}_qa_pairs.json", question)
        os.makedirs(folder)
        os.rename(source, folder / source.name)
        expected.append((folder / source.name).relative_to(settings.root_path).as_posix())
        wait_for(partial(has_question, db, question), timeout=DEADLINE, what=f"file {n}")
    assert daemon.join(5)
    for rel in expected:
        _imported_once(db, rel, 1)
    assert daemon.counts["imported"] == len(expected)


def _new_folder(root: Path, elsewhere: Path, name: str, how: str) -> Path:
    """A folder new to the daemon: made in place (its watch comes a moment later, so a file
    put there at once may or may not send events), or made outside and moved in (its files
    are only ever found by walking it)."""
    target = root / "outbox/droid" / name
    if how == "made in place":
        os.makedirs(target)
        return target
    made = elsewhere / name
    os.makedirs(made)
    return made


def _into_tree(folder: Path, root: Path) -> Path:
    """Where ``_new_folder`` put it: moved into the tree if it was made outside."""
    target = root / "outbox/droid" / folder.name
    if folder != target:
        os.rename(folder, target)
    return target


NEW_FOLDERS = ["made in place", "moved in"]


@pytest.mark.parametrize("how", NEW_FOLDERS)
def test_closed_file_written_into_a_new_folder_is_imported_within_the_deadline(
    settings: Settings, db: Database, daemon: Daemon, elsewhere: Path, how: str
) -> None:
    root = settings.root_path
    folder = _new_folder(root, elsewhere, "session_written", how)
    question = unique_question("Written in a new folder")
    (folder / "adx_qa_pairs.json").write_bytes(qa_document(question))
    _into_tree(folder, root)
    wait_for(partial(has_question, db, question), timeout=DEADLINE, what="the file imported")
    assert daemon.join(5)
    _imported_once(db, "outbox/droid/session_written/adx_qa_pairs.json", 1)


@pytest.mark.parametrize("how", NEW_FOLDERS)
def test_file_still_being_written_in_a_new_folder_is_taken_only_once_closed(
    settings: Settings, db: Database, daemon: Daemon, elsewhere: Path, how: str
) -> None:
    """The writer opens its file in a new folder: made in place, perhaps before the
    folder's watch exists; moved in, always before (no open event ever comes). Two files
    moved in behind it are imported first: the worker takes due files in order, so by then
    a file wrongly taken at once would be in the ledger, rejected as invalid JSON."""
    root = settings.root_path
    questions = [unique_question(f"Slow writer {i}") for i in range(200)]
    data = qa_document(*questions)
    rel = "outbox/droid/session_slow/slow_qa_pairs.json"
    folder = _new_folder(root, elsewhere, "session_slow", how)
    with open(folder / "slow_qa_pairs.json", "wb") as handle:
        handle.write(data[: len(data) // 2])
        handle.flush()
        folder = _into_tree(folder, root)
        for n in range(2):
            behind = unique_question(f"Behind the slow file {n}")
            source = _written_outside(elsewhere, f"behind_{n}_qa_pairs.json", behind)
            os.rename(source, folder / source.name)
            wait_for(partial(has_question, db, behind), timeout=DEADLINE, what=f"file {n}")
        assert ledger_rows(db, rel) == [], "taken while its writer held it open"
        handle.write(data[len(data) // 2 :])
    wait_for(lambda: ledger_rows(db, rel), timeout=DEADLINE, what="the complete file")
    assert daemon.join(5)
    _imported_once(db, rel, len(questions))


class _Recorder(FileSystemEventHandler):
    """Every move event the observer dispatches."""

    def __init__(self) -> None:
        self.moves: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def dispatch(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileMovedEvent):
            with self._lock:
                self.moves.append((os.fsdecode(event.src_path), os.fsdecode(event.dest_path)))

    def seen(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.moves)


@pytest.fixture
def recorder(root: Path) -> Iterator[_Recorder]:
    """The daemon's inotify observer on ``outbox/``, its events recorded."""
    handler = _Recorder()
    observer = AttribInotifyObserver()
    observer.schedule(handler, str(root / "outbox"), recursive=True, event_filter=INOTIFY_EVENTS)
    observer.start()
    try:
        yield handler
    finally:
        observer.stop()
        observer.join(10)


def test_observer_reports_a_move_from_outside_with_no_source_and_keeps_inner_moves_paired(
    root: Path, recorder: _Recorder, elsewhere: Path
) -> None:
    outside = _written_outside(elsewhere, "in_qa_pairs.json", "Q?")
    arrived = root / "outbox/droid/in_qa_pairs.json"
    os.rename(outside, arrived)
    renamed = root / "outbox/claude/renamed_qa_pairs.json"
    os.rename(arrived, renamed)
    expected = [(MOVED_IN_FROM_OUTSIDE, str(arrived)), (str(arrived), str(renamed))]
    wait_for(lambda: len(recorder.seen()) >= 2, timeout=DEADLINE, what="both moves reported")
    assert recorder.seen() == expected


def test_writer_found_in_proc_whose_open_event_comes_later_is_open_only_until_its_close() -> None:
    """The walk of a new folder can find a writer in /proc before its open event is
    dispatched: counted twice, its file would look open for ever after its close."""
    open_files = OpenFiles()
    path = Path("/root/outbox/droid/new/slow_qa_pairs.json")
    open_files.held_by_writer(path)
    open_files.opened(path)  # the same open, its event dispatched after the walk
    open_files.opened(path)  # a reader
    open_files.closed(path)  # ...done: the writer still holds it
    assert open_files.is_open(path)
    open_files.closed(path, wrote=True)
    assert not open_files.is_open(path)
