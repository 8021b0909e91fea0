"""What the pipeline's stages hand on: the delivery in hand, as read, then as parsed.

A ``Delivery`` is built once by the read stage and carries everything the file's ledger row
records, so a rejection, a failure and an import all record the same values. ``ReadFile``
and ``Refused`` are what reading gives; ``Parsed`` is what the import stage takes, its
payload a pydantic model or, for a large file, a ``StreamedFile`` opened afresh for every
attempt of the import.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import BaseModel

from daemon.ingest.paths import Location
from daemon.ingest.preparing import StreamRequest
from daemon.ingest.stream_worker import RemoteStream, StreamWorker, WorkerUnavailable
from handlers.base import FileContext, Handler, Rejected, StreamParser
from handlers.streaming import QAStream


@dataclass(frozen=True)
class Delivery:
    """One version of one file: where it is, its content's digest, and where it is kept."""

    where: Location
    digest: str  # SHA-256 of the content (of a stand-in text when the file is not read)
    size: int
    mtime_ns: int
    ctime_ns: int | None = None  # as stat-ed before the read (None: unknown)
    archived: Path | None = None  # the content-addressed copy, once it is made

    @property
    def rel_root(self) -> str:
        return self.where.rel_root

    @property
    def agent(self) -> str:
        return self.where.agent

    def kept_at(self, archived: Path | None) -> Delivery:
        """The same delivery, its copy kept at ``archived``."""
        return replace(self, archived=archived)


@dataclass(frozen=True)
class Refused:
    """Turned away before its content is read: a link out of the tree, or over the size cap."""

    delivery: Delivery
    rejection: Rejected


@dataclass(frozen=True)
class ReadFile:
    """A file read: its bytes, or (too large to hold) hashed and archived for its streamer."""

    delivery: Delivery
    ctx: FileContext
    handler: Handler | Rejected
    content: bytes | StreamParser

    @property
    def data(self) -> bytes | None:
        """The bytes, when the file was read whole."""
        return self.content if isinstance(self.content, bytes) else None


@dataclass
class StreamedFile:
    """A large file its handler reads as it goes: the stream owns (and closes) the file.

    Opening a stream checks the whole file once (``handlers.streaming.read_layout``); the
    stream opened to ask ``streamable`` is kept for the first import attempt, so a file is
    checked twice only when its import is tried again.
    """

    streamer: StreamParser
    path: Path  # the archived copy (the delivery itself on a dry run)
    ctx: FileContext
    # the second process that reads it during the import, when there is one
    worker: StreamWorker | None = None
    request: StreamRequest | None = None
    _checked: QAStream | None = field(default=None, repr=False, compare=False)
    _remote: RemoteStream | None = field(default=None, repr=False, compare=False)

    def open_stream(self) -> QAStream | None:
        """The file opened for its streaming reader, or None when it cannot be streamed."""
        source = open(self.path, "rb")  # noqa: SIM115 - closed with the stream
        try:
            stream = self.streamer(source, self.ctx)
        except BaseException:
            source.close()
            raise
        if stream is None:
            source.close()
        return stream

    def streamable(self) -> bool:
        """Whether the streaming reader takes it (a faulty or odd file is read whole). The
        second process, when it can take the file, checks it and goes on reading it."""
        if self._remote is None and self._checked is None:
            try:
                self._remote = self._open_remote()
            except WorkerUnavailable:  # checked here, to be read here
                self._checked = self.open_stream()
        return self._remote is not None or self._checked is not None

    def open(self) -> QAStream | RemoteStream:
        """The stream for one import attempt (a retry reads the file again)."""
        remote, self._remote = self._remote, None
        stream, self._checked = self._checked, None
        if remote is None and stream is None:
            with contextlib.suppress(WorkerUnavailable):
                remote = self._open_remote()
        if remote is not None:
            return remote
        if stream is None:
            stream = self.open_stream()
        if stream is None:
            raise RuntimeError(f"{self.path} could be streamed, now cannot")
        return stream

    def _open_remote(self) -> RemoteStream | None:
        """Opened by the second process (None: it cannot be streamed); ``WorkerUnavailable``
        when there is none free."""
        if self.worker is None or self.request is None:
            raise WorkerUnavailable("no second process")
        return self.worker.open(self.request)


Payload = BaseModel | StreamedFile


@dataclass(frozen=True)
class Parsed:
    """A file ready for its importer."""

    delivery: Delivery
    ctx: FileContext
    handler: Handler
    payload: Payload
