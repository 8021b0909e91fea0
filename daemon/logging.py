"""Structured logging, configured once at the entry point.

Events go as JSON lines to ``var/log/inboxd.jsonl`` (rotated by size) and to stdout: JSON
when stdout is not a TTY, readable console output on one. Under systemd, stdout is the
journal; when ``$JOURNAL_STREAM`` names stdout's device:inode, each line starts with its
syslog priority (``<3>`` error ... ``<7>`` debug) so ``journalctl -p err`` works. A traceback
is a structured ``exception`` field of its one event, never several lines, and never carries
local variables (they may hold secrets).

Modules only call ``get_logger()`` and log events with fields:
``log.info("file.imported", agent=..., path=..., pairs=..., ms=...)``.

A listener (``add_listener``) sees every event inboxd logs, whatever the level kept, in the
thread that logs it: the alerts room turns some of them into notifications this way, so the
code that logs an event knows nothing of who is told.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from io import TextIOWrapper
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer

LOG_FILE_MAX_BYTES = 50 * 1024 * 1024
LOG_FILE_BACKUPS = 5
FIRST_FIELDS = ("ts", "level", "event")
# libraries whose info lines are their own chatter, not inboxd's events ("setup plugin ...",
# "Context impl SQLiteImpl."): shown only when the level is debug
# (apprise: "Sent JSON notification." per message; its warnings still show)
QUIET_LIBRARIES = ("alembic", "apprise")

Listener = Callable[[Mapping[str, Any]], None]
_LISTENERS: list[Listener] = []

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
]

# Frames only: locals can hold passwords (a database URL) or delivered content.
_structured_exception = structlog.processors.ExceptionRenderer(
    ExceptionDictTransformer(show_locals=False)
)


def configure_logging(
    log_file: Path | None,
    *,
    level: str = "info",
    console: bool | None = None,
    journal_stream: str | None = None,
    stream: TextIO | None = None,
    max_bytes: int = LOG_FILE_MAX_BYTES,
    backup_count: int = LOG_FILE_BACKUPS,
    debug: bool = False,
) -> None:
    """Send events to the log file and to ``stream`` (stdout).

    ``console`` forces human output on or off (default: on when the stream is a TTY).
    ``journal_stream`` is the value of ``$JOURNAL_STREAM``, given by the entry point; the
    syslog prefix is added only when it names the stream's own file. ``debug`` (``--debug``)
    lets the libraries' own lines through (``QUIET_LIBRARIES``), as the debug level does.
    """
    out = sys.stdout if stream is None else stream
    human = _isatty(out) if console is None else console
    prefixed = not human and is_journal_stream(out, journal_stream)
    handlers: list[logging.Handler] = []
    to_stream = logging.StreamHandler(out)
    to_stream.setFormatter(_formatter(human, syslog_prefix=prefixed))
    handlers.append(to_stream)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = _RotatingJsonFile(
            log_file, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
        )
        file_handler.setFormatter(_formatter(False, syslog_prefix=False))
        handlers.append(file_handler)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = logging.DEBUG if debug or root.level <= logging.DEBUG else logging.WARNING
    for library in QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(quiet)
    structlog.configure(
        processors=[
            *_SHARED,
            _tell_listeners,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    if not human:
        sys.excepthook = _log_uncaught  # a crash is one JSON event too, not a stderr traceback


def add_listener(listener: Listener) -> None:
    """Call ``listener`` with each event (its fields, read-only) from now on.

    It runs in the logging thread (the worker's, for a file's events): it must return at
    once and not log itself. An exception it raises is swallowed: logging never fails.
    """
    _LISTENERS.append(listener)


def remove_listener(listener: Listener) -> None:
    if listener in _LISTENERS:
        _LISTENERS.remove(listener)


def _tell_listeners(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for listener in tuple(_LISTENERS):
        try:
            listener(event_dict)
        except Exception:  # a listener's bug must not cost the event or the caller
            continue
    return event_dict


def is_journal_stream(stream: TextIO, journal_stream: str | None) -> bool:
    """True when ``$JOURNAL_STREAM`` (``device:inode``) is this very stream's file.

    systemd sets it for a service whose stdout or stderr is the journal; a child whose stdout
    was redirected elsewhere inherits the variable, hence the comparison.
    """
    if not journal_stream:
        return False
    try:
        device, inode = (int(part) for part in journal_stream.split(":"))
        stat = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):  # not "N:N", or no real file behind it
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


def syslog_priority(levelno: int) -> int:
    """The syslog priority journald reads from a ``<N>`` prefix."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class _RotatingJsonFile(logging.handlers.RotatingFileHandler):
    """The stdlib's size rotation, with each record rendered once.

    ``RotatingFileHandler`` renders a record to measure it, then again to write it, and
    looks the path up twice, for every record: a real share of the worker's time in a burst
    of small files. Here the rendered line is measured, the file rotated if it would pass
    ``maxBytes``, then the same line written.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            if self.maxBytes > 0 and self._opened().tell() + len(line) >= self.maxBytes:
                self.doRollover()
            self._opened().write(line)
            self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _opened(self) -> TextIOWrapper:
        """The file's stream, opened now when delayed (``delay``, or reopened after a rollover)."""
        if self.stream is None:
            self.stream = self._open()
        return self.stream


class _JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """A record's JSON line, rendered once for every handler that writes JSON (the file, and
    stdout when it is not a terminal): the line is kept on the record."""

    def format(self, record: logging.LogRecord) -> str:
        line: str | None = getattr(record, "_inboxd_json", None)
        if line is None:
            line = super().format(record)
            record._inboxd_json = line
        return line


class _SyslogPrefixFormatter(_JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{syslog_priority(record.levelno)}>{super().format(record)}"


def _formatter(human: bool, *, syslog_prefix: bool) -> logging.Formatter:
    processors: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if human:
        processors.append(
            structlog.dev.ConsoleRenderer(
                colors=True,
                exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False),
            )
        )
        return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_SHARED, processors=processors)
    processors += [_structured_exception, _first_fields, _json_renderer]
    cls = _SyslogPrefixFormatter if syslog_prefix else _JsonFormatter
    return cls(foreign_pre_chain=_SHARED, processors=processors)


def _first_fields(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """``ts``, ``level``, ``event`` lead each line, so a person reading the journal sees them."""
    ordered = {key: event_dict.pop(key) for key in FIRST_FIELDS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def _json_renderer(_logger: Any, _name: str, event_dict: dict[str, Any]) -> str:
    return orjson.dumps(event_dict, default=str).decode()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def _log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    if not issubclass(exc_type, Exception):  # KeyboardInterrupt, SystemExit: as Python does
        sys.__excepthook__(exc_type, exc, tb)
        return
    try:
        get_logger("inboxd").critical("process.crashed", exc_info=(exc_type, exc, tb))
    except Exception:
        sys.__excepthook__(exc_type, exc, tb)


def get_logger(name: str = "inboxd") -> Any:
    return structlog.get_logger(name)
