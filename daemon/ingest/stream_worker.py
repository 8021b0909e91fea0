"""A second process that reads a large file and prepares its chunks while this one stores them.

Why: a large export costs about as much to parse, key, analyse and fingerprint as to store;
with a second core the two overlap (docs/performance.md, "A second process for large files").
The child (``python -m daemon.ingest.stream_child``) is started once and kept. It takes one
request at a time on its stdin and answers on its stdout with pickles, one after another:
``opened`` with the stream's fields, then one ``chunk`` at a time, then ``end`` with the final
counts (or ``rejected``, ``failed``). It is at most a chunk ahead, and the pipe's 1 MiB: it
waits on the pipe.

A stream given up half-way (its import failed) ends the child and the next request starts
another. A child that cannot start, or is busy with another thread's file, leaves the work to
this process (``WorkerUnavailable``); one that dies mid-file makes the file wait and be tried
again (``StreamWorkerLost``), and after ``LOSSES_TOLERATED`` deaths with no file read to its
end between them it is not used again by this process (a file that kills it every time is
then read here).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from daemon.errors import TransientError

if TYPE_CHECKING:  # imported by ``inboxd process`` before anything heavy: the child starts first
    from daemon.ingest.preparing import PreparedChunk, StreamRequest
    from handlers.models import SkippedPair

LOSSES_TOLERATED = 2
# the chunks' pipe widened from Linux's 64 KiB to the unprivileged limit: a 3 MB chunk crosses
# in 3 turns of the two processes, not 45 (the export's in-process import 7% quicker)
PIPE_BYTES = 1 << 20
CHILD = "daemon.ingest.stream_child"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # where ``daemon`` and ``handlers`` live


def send(out: IO[bytes], message: object) -> None:
    """Pickled straight onto the pipe, frame by frame: no copy of a chunk's bytes is made."""
    pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def widen_pipe(pipe: IO[bytes]) -> None:
    """``PIPE_BYTES`` of room in the pipe, where the system allows it (Linux; a lower
    ``/proc/sys/fs/pipe-max-size`` or another system keeps the default, which works)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe.fileno(), set_size, PIPE_BYTES)


def receive(source: IO[bytes]) -> Any:
    """The next message, or None when the other side is gone (its end of the pipe closed,
    before or in the middle of a message). Unpickled as it is read: the objects are built
    without the message's bytes held whole beside them (a chunk's are megabytes); the
    unpickler reads exactly one message."""
    try:
        return pickle.load(source)
    except (EOFError, pickle.UnpicklingError):
        return None


class WorkerUnavailable(Exception):
    """No second process for this file: it is read in this one."""


class StreamWorkerLost(TransientError):
    """The second process died while reading a file: the file waits and is tried again."""


class StreamWorkerFailed(Exception):
    """The second process's reader raised (a parser bug): the file is recorded as failed."""


class RemoteStream:
    """A large file read by the second process, with a ``QAStream``'s fields."""

    def __init__(self, worker: StreamWorker, fields: dict[str, Any]) -> None:
        self.worker = worker
        self.finished = False
        self.thread = threading.get_ident()  # the pipeline's thread that opened it
        self.indicator: str | None = fields["indicator"]
        self.session: int | None = fields["session"]
        self.category: str | None = fields["category"]
        self.source_database: str | None = fields["source_database"]
        self.filtered_reason: str | None = fields["filtered_reason"]
        self.filtered: int = fields["filtered"]
        self.skipped: list[SkippedPair] = []
        self.skipped_count = 0

    def prepared(self) -> Iterator[PreparedChunk]:
        """The chunks as the second process prepares them; then the final counts are set."""
        while not self.finished:
            message = self.worker.next_message()
            kind = message[0]
            if kind == "chunk":
                chunk, message = message[1], ()
                yield chunk
                del chunk  # gone before the next is received: one chunk alive at a time
            elif kind == "end":
                self.finished = True
                self.worker.release(self)
                _, self.filtered, self.skipped, self.skipped_count = message
            else:
                self._end_with(message)

    def _end_with(self, message: tuple[Any, ...]) -> None:
        self.finished = True
        self.worker.release(self)
        raise _ending(message)

    def close(self) -> None:
        """Done with the file: one not read to its end ends the second process."""
        if not self.finished:
            self.finished = True
            self.worker.abandon(self)


class StreamWorker:
    """The second process, started when first needed (or ``start``-ed ahead) and kept."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # one file at a time
        self._holder: RemoteStream | None = None
        self._losses = 0
        self.served = 0  # files read to their end (the log's and the tests' count)

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (the bench reads its CPU time)."""
        return self._child.pid if self._child is not None else None

    @property
    def usable(self) -> bool:
        return self._losses < LOSSES_TOLERATED

    def start(self) -> None:
        """Start the child now (it loads its modules while this process does its own)."""
        if self.usable and self._lock.acquire(blocking=False):  # else: busy, so started
            try:
                self._ensure_child()
            except WorkerUnavailable:
                pass  # the files are read here; ``open`` says so again
            finally:
                self._lock.release()

    def _ensure_child(self) -> subprocess.Popen[bytes]:
        child = self._child
        if child is not None and child.poll() is None:
            return child
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")])
        )
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            self._losses = LOSSES_TOLERATED
            raise WorkerUnavailable(f"second process not started: {exc}") from exc
        assert child.stdout is not None
        widen_pipe(child.stdout)
        self._child = child
        return child

    def open(self, request: StreamRequest) -> RemoteStream | None:
        """The file opened by the second process; None when it cannot be streamed."""
        if not self.usable or not self._lock.acquire(blocking=False):
            raise WorkerUnavailable("second process busy or not usable")
        try:
            child = self._ensure_child()
            assert child.stdin is not None
            send(child.stdin, request)
            message = self.next_message()
        except (OSError, StreamWorkerLost) as exc:
            self._lock.release()
            raise WorkerUnavailable(f"second process lost: {exc}") from exc
        if message[0] == "opened":
            self._holder = RemoteStream(self, message[1])
            return self._holder
        self._lock.release()
        if message[0] == "unstreamable":
            return None
        raise _ending(message)

    def next_message(self) -> tuple[Any, ...]:
        child = self._child
        message = receive(child.stdout) if child is not None and child.stdout else None
        if message is None:
            self._lost()
            raise StreamWorkerLost("the second process reading the file exited")
        return tuple(message)

    def release(self, stream: RemoteStream) -> None:
        """``stream`` was read to its end: the child takes the next request."""
        if self._holder is stream:
            self._holder = None
            self.served += 1
            self._losses = 0  # losses count in a row: a file that kills it each time stops it
            self._lock.release()

    def abandon(self, stream: RemoteStream) -> None:
        """``stream`` was given up half-way: the child, still sending it, is ended."""
        if self._holder is stream:
            self._stop()
            self._holder = None
            self._lock.release()

    def reclaim(self) -> None:
        """End a stream this thread opened and did not read (its file was not imported)."""
        holder = self._holder
        if holder is not None and holder.thread == threading.get_ident():
            holder.close()

    def _lost(self) -> None:
        self._losses += 1
        self._stop()
        if self._holder is not None:
            self._holder.finished = True
            self._holder = None
            self._lock.release()

    def _stop(self) -> None:
        """End the child now: it holds nothing to save (a file given up is read again), and
        left to unload its modules it would keep this process waiting."""
        child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(OSError):
            if child.stdin:
                child.stdin.close()
        child.kill()
        child.wait()
        if child.stdout:
            child.stdout.close()

    def close(self) -> None:
        """At exit (or when done with it)."""
        self._stop()


def _ending(message: tuple[Any, ...]) -> Exception:
    """What a ``rejected`` or ``failed`` message raises here."""
    from handlers.streaming import StreamRejected

    if message[0] == "rejected":
        return StreamRejected(message[1])
    return StreamWorkerFailed(str(message[1]))


_SHARED: StreamWorker | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> StreamWorker:
    """This process's second process (one for every pipeline in it)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = StreamWorker()
            atexit.register(_SHARED.close)
        return _SHARED
