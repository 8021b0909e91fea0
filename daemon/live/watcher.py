"""Events in, paths onto the queue: the watchdog callback does nothing else.

Events are hints, not facts. Close-after-write and moved-in are arrivals, a move from outside
the tree included (inotify: ``AttribInotifyEmitter`` reports it as a move with no source): a
rename is atomic, the file arrives whole. Created and modified only ask the queue to wait
until the file settles (what polling gives). A file the pipeline may not read waits for a
change: its attribute event (chmod, chown) brings it back at once, and its deletion takes it
off the waiting list. Open/close events tell which files a writer still holds open, so a
slow writer pausing longer than the settle time is not taken half-written. A new folder is
walked at once (files written before its watch existed send no event): with inotify, a file
found there that no process holds open for writing arrived closed and is taken at once; one
still being written is held until its close. A kernel queue overflow triggers a rescan twice:
at once, from watchdog's log record, and again at its ``EventsLostEvent``, which comes once
watchdog has put its watches back (a file made while they were away sends no event, and the
first rescan may have looked before it existed).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    EventsLostEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from daemon.config import Settings
from daemon.ingest.paths import BOXES, Ignored, locate
from daemon.live.workqueue import WorkQueue

# watchdog reports IN_Q_OVERFLOW only as this log record (watchdog >= 6).
WATCHDOG_INOTIFY_LOGGER = "watchdog.observers.inotify_c"
OVERFLOW_MESSAGE = "Inotify queue overflowed"
PROC_FDS = "/proc/self/fd"  # present where files_open_for_writing can see the writers


def walk_files(folder: Path) -> Iterator[Path]:
    """Every file below a folder (links are yielded, not followed; the pipeline refuses them)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            yield Path(dirpath) / name


class OpenFiles:
    """Files held open by someone, counted from inotify open and close events, plus files a
    writer found in /proc holds (``held_by_writer``)."""

    def __init__(self) -> None:
        self._counts: dict[Path, int] = {}
        # held by a writer found in /proc, until a close-after-write: its open may have come
        # before the watch (no open event will come) or be on its way (counted as well)
        self._writers: set[Path] = set()
        self._lock = threading.Lock()

    def opened(self, path: Path) -> None:
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1

    def closed(self, path: Path, *, wrote: bool = False) -> None:
        """``wrote``: a close-after-write, which also ends a hold found in /proc."""
        with self._lock:
            left = self._counts.get(path, 0) - 1
            if left > 0:
                self._counts[path] = left
            else:
                self._counts.pop(path, None)
            if wrote:
                self._writers.discard(path)

    def forget(self, path: Path) -> None:
        """The file was deleted: whoever held it, it will not be closed under this name."""
        with self._lock:
            self._counts.pop(path, None)
            self._writers.discard(path)

    def replace_with(self, held: set[Path]) -> None:
        """After an overflow: exactly the files a writer holds now (from /proc), swapped in
        under the lock, so no moment exists at which a writer's file looks closed.

        They are held as writers (until a close-after-write), not counted: the open event of
        a file opened just before /proc was read may still be on its way, and would count it
        twice (it would look open for ever after its close). The counts start again from
        nothing: a close still on its way for an older open finds none to take away."""
        with self._lock:
            self._counts = {}
            self._writers = set(held)

    def held_by_writer(self, path: Path) -> None:
        """A writer found in /proc: held until a close-after-write. Kept apart from the
        counts: its open event, if one comes after this call, must not count it twice (the
        file would look open for ever after its close)."""
        with self._lock:
            self._writers.add(path)

    def is_open(self, path: Path) -> bool:
        with self._lock:
            return path in self._counts or path in self._writers


def files_open_for_writing(root: Path) -> set[Path]:
    """Files under ``root`` that some process holds open for writing (Linux /proc).

    inotify's open/close events only tell about opens seen since the watch began (and none
    survive a queue overflow); this is the ground truth at one moment. Empty elsewhere.
    """
    prefix = str(root) + os.sep
    found: set[Path] = set()
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
                if not target.startswith(prefix):
                    continue
                flags = 0
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    for line in info:
                        if line.startswith("flags:"):
                            flags = int(line.split()[1], 8)
                            break
            except (OSError, ValueError, IndexError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                found.add(Path(target))
    return found


WALKED_REMEMBERED = 10_000  # files of new folders awaiting watchdog's own report


class DeliveryEventHandler(FileSystemEventHandler):
    """Filters events and enqueues paths; never raises into watchdog's dispatch thread."""

    def __init__(
        self,
        settings: Settings,
        queue: WorkQueue,
        open_files: OpenFiles,
        on_error: Callable[[BaseException], None],
        waiting: Callable[[Path], bool] = lambda _path: False,
        after_overflow: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.open_files = open_files
        self.on_error = on_error
        self.waiting = waiting  # whether the pipeline waits for this file to become readable
        self.after_overflow = after_overflow  # a kernel queue overflow: the tree is rescanned
        # files a new folder's walk took at once, until watchdog's own "created" for them
        self._walked: OrderedDict[Path, None] = OrderedDict()

    def _candidate(self, raw: str | bytes) -> Path | None:
        path = Path(os.fsdecode(raw))
        if isinstance(locate(self.settings, path), Ignored):
            return None
        # inotify puts no watch behind a link (follow_symlink is off): only polling reports
        # files there, and the lstat per parent is saved on every inotify event
        if self.settings.polling and self._behind_link(path):
            return None
        return path

    def _behind_link(self, path: Path) -> bool:
        """Inside a linked folder (polling follows links): only the link itself is reported."""
        root = self.settings.root_path
        parent = path.parent
        while parent != root and root in parent.parents:
            if parent.is_symlink():
                return True
            parent = parent.parent
        return False

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._dispatch(event)
        except Exception as exc:  # a dead dispatch thread would stop every later event
            self.on_error(exc)

    def _dispatch(self, event: FileSystemEvent) -> None:
        if isinstance(event, EventsLostEvent):  # after an overflow, the watches back in place
            self.after_overflow()
            return
        if event.is_synthetic:
            # watchdog's synthetic events stand for what a folder moved in holds: the walk
            # of that folder, dispatched before them, found its files already (and took
            # the closed ones at once; a synthetic "created" would queue them again, to be
            # read once more after the settle window)
            return
        if isinstance(event, DirCreatedEvent | DirMovedEvent):
            self._folder_arrived(event)
            return
        if isinstance(event, FileMovedEvent):
            moved_in = self._candidate(event.dest_path)
            if moved_in is not None:
                self.queue.put(moved_in, ready=True)
            if event.src_path:  # empty: moved in from outside the watched folder
                self._gone(Path(os.fsdecode(event.src_path)))
            return
        path = self._candidate(event.src_path)
        if path is not None:
            self._file_event(event, path)

    def _folder_arrived(self, event: DirCreatedEvent | DirMovedEvent) -> None:
        """A new folder is walked at once: files written before its watch existed send no event."""
        folder = event.dest_path if isinstance(event, DirMovedEvent) else event.src_path
        if os.path.islink(folder):  # a link to a folder: refused by the pipeline, not walked
            link = self._candidate(folder)
            if link is not None:
                self.queue.put(link, ready=True)
            return
        root = Path(os.fsdecode(folder))
        found = [path for path in walk_files(root) if self._candidate(str(path)) is not None]
        writing = self._being_written(root) if found else None
        for path in found:
            if writing is None:
                self.queue.put(path, ready=False)
            elif path in writing:
                self.open_files.held_by_writer(path)  # no open event may come: held till closed
                self.queue.put(path, ready=False)
            else:
                self.queue.put(path, ready=True)  # arrived closed: taken without a settle delay
                if isinstance(event, DirCreatedEvent):
                    self._remember_walked(path)

    def _remember_walked(self, path: Path) -> None:
        """A folder made in place is walked by watchdog too, which reports every file in it
        as "created" (not marked synthetic), often after our walk's entry was taken: that
        event would queue the file again, to be read once more after the settle window.
        The first such event for a file the walk took is dropped; a real rewrite still ends
        with its close. Bounded: events that never come are forgotten, oldest first."""
        self._walked[path] = None
        while len(self._walked) > WALKED_REMEMBERED:
            self._walked.popitem(last=False)

    def _taken_by_walk(self, path: Path) -> bool:
        """Whether our walk took this file (forgotten as it is asked: one event is dropped)."""
        if path not in self._walked:
            return False
        del self._walked[path]
        return True

    def _being_written(self, folder: Path) -> set[Path] | None:
        """The files under a new folder some process holds open for writing, or None when
        that cannot be known, and every file found there must settle.

        With inotify the folder's watch exists before this runs: a writer that opened a file
        later sends an open event, and one that opened it earlier is in /proc now. /proc is
        read after the walk, so every file the walk found is either still held (and seen
        here) or closed. Polling watches network file systems, whose writers /proc does not
        show; without /proc (not Linux) nothing is known.
        """
        if self.settings.polling or not os.path.isdir(PROC_FDS):
            return None
        return files_open_for_writing(folder)

    def _file_event(self, event: FileSystemEvent, path: Path) -> None:
        """Open and close tell who still writes; close-after-write is the arrival."""
        if isinstance(event, FileOpenedEvent):
            self.open_files.opened(path)
        elif isinstance(event, FileClosedEvent):
            self.open_files.closed(path, wrote=True)
            self.queue.put(path, ready=True)
        elif isinstance(event, FileClosedNoWriteEvent):
            self.open_files.closed(path)
        elif isinstance(event, FileCreatedEvent) and self._taken_by_walk(path):
            return  # watchdog's report of what a new folder held: taken by our walk already
        elif isinstance(event, FileCreatedEvent | FileModifiedEvent):
            self.queue.put(path, ready=False)
        elif isinstance(event, FileAttribEvent):
            if self.waiting(path):  # chmod, chown: it may be readable now
                self.queue.put(path, ready=False)
        elif isinstance(event, FileDeletedEvent):
            self.open_files.forget(path)
            self._gone(path)

    def _gone(self, path: Path) -> None:
        """A waiting file deleted or moved away: the pipeline finds it gone, and says so."""
        if self.waiting(path):
            self.queue.put(path, ready=True)


class OverflowDetector(logging.Handler):
    """Turns watchdog's "queue overflowed" log record into a callback (events were lost).

    The record is the first word of an overflow: watchdog logs it before it re-adds its
    watches. The ``EventsLostEvent`` after that is the second (``DeliveryEventHandler``)."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(level=logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if OVERFLOW_MESSAGE in record.getMessage():
            self.on_overflow()

    def install(self) -> None:
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).removeHandler(self)


# The events ``DeliveryEventHandler`` acts on. Asking for these only keeps the rest out of the
# kernel's queue (IN_MODIFY: one per write call; close-after-write is the arrival) and out of
# watchdog's threads (a "folder modified" event for every file created, closed or moved in):
# 7 events instead of 11 for a file written then renamed into place and read once.
INOTIFY_EVENTS: list[type[FileSystemEvent]] = [
    FileMovedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    DirCreatedEvent,
    FileOpenedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileDeletedEvent,
    FileAttribEvent,  # rare (chmod, chown, touch); acted on only for a waiting file
    EventsLostEvent,  # no kernel event of its own: watchdog's report of an overflow
]
# Polling sees no open or close: a file changing is reported as modified
POLLING_EVENTS: list[type[FileSystemEvent]] = [*INOTIFY_EVENTS, FileModifiedEvent]


def _native_observer() -> BaseObserver:
    """inotify asking for attribute changes too (Linux); elsewhere the platform's observer."""
    try:
        from daemon.live.inotify_attrib import AttribInotifyObserver
    except ImportError:  # not Linux: no attribute events, a waiting file waits for a rescan
        return Observer()
    return AttribInotifyObserver()


def dead_thread(observer: BaseObserver) -> str | None:
    """Which of the threads every event passes through has died, if one has: the observer's
    own (it calls the handler), an emitter, or with inotify the reader that feeds them all.
    watchdog keeps the reader to itself; when it dies the others wait for ever, and events
    are lost without a word."""
    if not observer.is_alive():
        return "observer"
    if not all(emitter.is_alive() for emitter in list(observer.emitters)):
        return "emitter"
    reader = getattr(observer, "_inotify_fd", None)  # InotifyObserver's, once scheduled
    if isinstance(reader, threading.Thread) and not reader.is_alive():
        return "inotify reader"
    return None


def make_observer(settings: Settings, handler: DeliveryEventHandler) -> BaseObserver:
    observer: BaseObserver = (
        PollingObserver(timeout=max(0.1, settings.settle_seconds / 2))
        if settings.polling
        else _native_observer()
    )
    wanted = POLLING_EVENTS if settings.polling else INOTIFY_EVENTS
    for box in BOXES:
        folder = settings.root_path / box
        folder.mkdir(parents=True, exist_ok=True)
        observer.schedule(handler, str(folder), recursive=True, event_filter=wanted)
    return observer
