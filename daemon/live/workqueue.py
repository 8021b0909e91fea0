"""The work queue between events and the worker: one entry per path, bursts coalesced.

An entry is due at a time; ``stable`` entries (seen by a rescan or a create/modify event,
not by a close or a move) must also show the same size and mtime across the settle window,
and not be held open by a writer, before they are handed out: a file still being written is
waited for. Due times live in a heap (stale heap entries are skipped), so a burst of tens of
thousands of files costs O(log n) per file.

An entry that ``waits_for`` a folder (a completion signal: its agent's folder) is always
settled first, however it arrived, and is then held back while any other entry under that
folder is queued or settling: a signal copied with its delivery (``cp -r``, the signal first)
is taken after the files copied with it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIN_HOLD_SECONDS = 0.05  # a held-back entry looks again this often at least (settle 0)


@dataclass
class Pending:
    path: Path
    due: float
    needs_stability: bool
    seen: tuple[int, int] | None = None  # (size, mtime_ns) at the last look
    seq: int = 0  # matches the heap entry that currently stands for this path


def _size(path: Path) -> int:
    """Bytes on disk now (0 when gone: a vanished file costs its group nothing)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


class WorkQueue:
    def __init__(
        self,
        settle_seconds: float,
        held_open: Callable[[Path], bool] | None = None,
        waits_for: Callable[[Path], Path | None] | None = None,
    ) -> None:
        self.settle = settle_seconds
        self.held_open = held_open or (lambda _path: False)
        self.waits_for = waits_for or (lambda _path: None)
        self._items: dict[Path, Pending] = {}
        self._heap: list[tuple[float, int, Path]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0

    def _schedule(self, item: Pending, due: float) -> None:
        item.due, item.seq = due, next(self._seq)
        self._items[item.path] = item
        heapq.heappush(self._heap, (due, item.seq, item.path))

    def put(self, path: Path, *, ready: bool) -> None:
        """``ready``: the file was closed after writing or moved in; else wait until settled
        (an entry that waits for a folder always settles: its companions may still come)."""
        now = time.monotonic()
        with self._cond:
            current = self._items.get(path)
            if ready and self.waits_for(path) is None:
                self._schedule(Pending(path, now, needs_stability=False), now)
            elif ready or current is None or current.needs_stability:
                self._schedule(Pending(path, now, True, _signature(path)), now + self.settle)
            self._cond.notify_all()

    def retry_later(self, path: Path, delay: float) -> None:
        """Put a path back after a transient fault (database away, file held)."""
        with self._cond:
            if path not in self._items:
                self._schedule(Pending(path, 0, False), time.monotonic() + delay)
            self._cond.notify_all()

    def get(self, timeout: float) -> Path | None:
        """The next due path, or None when nothing became due within ``timeout``."""
        taken = self.take(timeout)
        return taken[0] if taken else None

    def take(self, timeout: float, max_files: int = 1, max_bytes: int = 0) -> list[Path]:
        """The next due path and, without waiting for more, the others due now: at most
        ``max_files``, and no more once those taken reach ``max_bytes`` on disk together.
        Empty when nothing became due within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                path = self._pop_due(now)
                if path is not None:
                    taken, total = [path], (_size(path) if max_files > 1 else 0)
                    while len(taken) < max_files and total < max_bytes:
                        path = self._pop_due(now)
                        if path is None:
                            break
                        taken.append(path)
                        total += _size(path)
                    return taken
                if now >= deadline:
                    return []
                upcoming = self._heap[0][0] if self._heap else deadline
                self._cond.wait(max(0.001, min(deadline, upcoming) - now))

    def _pop_due(self, now: float) -> Path | None:
        """Hand out the earliest due path that may go now (called locked); entries that must
        wait longer are put back with their new due time."""
        while self._heap and self._heap[0][0] <= now:
            _due, seq, path = heapq.heappop(self._heap)
            item = self._items.get(path)
            if item is None or item.seq != seq:
                continue  # superseded by a later put
            if self.held_open(path):  # reopened for writing since its event
                item.needs_stability, item.seen = True, _signature(path)
                self._schedule(item, now + self.settle)
                continue
            if item.needs_stability:
                signature = _signature(path)
                if signature is not None and signature != item.seen:
                    item.seen = signature
                    self._schedule(item, now + self.settle)
                    continue
            if self._companions_pending(path):
                self._schedule(item, now + max(self.settle, MIN_HOLD_SECONDS))
                continue
            del self._items[path]
            self._busy += 1
            return path
        return None

    def _companions_pending(self, path: Path) -> bool:
        """Whether an entry waiting for a folder must still wait: another entry under that
        folder (not one that waits itself) is queued or settling. Only such entries (rare)
        pay for this look at the whole queue."""
        folder = self.waits_for(path)
        if folder is None:
            return False
        return any(
            other != path and folder in other.parents and self.waits_for(other) is None
            for other in self._items
        )

    def done(self, count: int = 1) -> None:
        """``count`` handed-out paths are finished (a group's, all at once)."""
        with self._cond:
            self._busy -= count
            self._cond.notify_all()

    def depth(self) -> int:
        with self._cond:
            return len(self._items)

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or being processed (handy in tests and at start)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._items or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True
