"""The second process of ``stream_worker``: reads large files and prepares their chunks.

It imports the handlers and what prepares a chunk, never the database's modules (a quick
start), and answers one request at a time until its stdin closes. Anything it prints goes to
stderr: stdout carries only the frames.
"""

from __future__ import annotations

import signal
import sys
import traceback
from typing import IO, Any

import handlers
from daemon.ingest.preparing import StreamRequest, default_indicator, prepare
from daemon.ingest.stream_worker import receive, send
from handlers.streaming import QAStream, StreamRejected


def _fields(stream: QAStream) -> dict[str, Any]:
    return {
        "indicator": stream.indicator,
        "session": stream.session,
        "category": stream.category,
        "source_database": stream.source_database,
        "filtered_reason": stream.filtered_reason,
        "filtered": stream.filtered,
    }


def serve(request: StreamRequest, out: IO[bytes]) -> None:
    """One file: opened (or not streamable), its chunks prepared, then its counts."""
    handler = next((h for h in handlers.HANDLERS if h.name == request.handler), None)
    if handler is None or handler.stream is None:
        send(out, ("failed", f"no streaming reader for {request.handler!r}"))
        return
    with open(request.path, "rb") as source:
        try:
            stream = handler.stream(source, request.ctx)
            if stream is None:
                send(out, ("unstreamable",))
                return
            send(out, ("opened", _fields(stream)))
            indicator = default_indicator(
                stream.indicator, request.mapped_indicator, request.ctx.name
            )
            for pairs in stream.chunks(request.chunk):
                send(out, ("chunk", prepare(pairs, request.detector, indicator)))
        except StreamRejected as exc:
            send(out, ("rejected", exc.rejection))
            return
        except Exception as exc:  # a reader's bug: the parent records the file as failed
            traceback.print_exc()
            send(out, ("failed", f"{type(exc).__name__}: {exc}"))
            return
    send(out, ("end", stream.filtered, stream.skipped, stream.skipped_count))


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the parent decides what stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not land among the frames
    while (request := receive(requests)) is not None:
        try:
            serve(request, out)
        except BrokenPipeError:
            return  # the parent gave the file up (or is gone)


if __name__ == "__main__":
    main()
