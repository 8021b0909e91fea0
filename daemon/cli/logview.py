"""``inboxd logs``: filter and follow the JSON log file, for people who do not want to write jq.

The log file (``var/log/inboxd.jsonl``) holds one JSON event a line; this module reads it
(and, with ``--since``, the rotated files recent enough to matter), keeps the events that
match, and renders them: coloured on a terminal, plain ``key=value`` lines otherwise.
"""

from __future__ import annotations

import fnmatch
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson
from rich.console import Console
from rich.text import Text

from daemon.status.escaping import visible

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
LEVEL_ALIASES = {
    "warn": "warning",
    "err": "error",
    "crit": "critical",
    "fatal": "critical",
    "exception": "error",
}
LEVEL_STYLES = {
    "debug": "dim",
    "info": "green",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold white on red",
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"(?:(\d+(?:\.\d+)?)\s*([smhdw]))", re.IGNORECASE)
_LEAD = ("ts", "level", "event")


def normalise_level(name: str) -> str:
    """A level name as the log writes it; ValueError names the ones that exist."""
    level = LEVEL_ALIASES.get(name.lower(), name.lower())
    if level not in LEVELS:
        raise ValueError(f"unknown level {name!r}; use one of {', '.join(LEVELS)}")
    return level


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``10m``, ``2h``, ``1d12h``, ``90s`` ago, or an ISO time (naive means local time)."""
    now = now or datetime.now(UTC)
    compact = text.strip().replace(" ", "")
    if compact and _RELATIVE.sub("", compact) == "":
        seconds = sum(float(n) * _UNITS[u.lower()] for n, u in _RELATIVE.findall(compact))
        return now - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a time like 2025-11-02T14:00 or a span like 10m, 2h, 1d"
        ) from None
    return when.astimezone(UTC)  # a naive time is taken as local time


@dataclass(frozen=True)
class LogFilter:
    """Which events to show; every condition given must hold."""

    agent: str | None = None
    min_level: str | None = None
    event: str | None = None  # a glob (file.*), an exact name, or a dotted prefix (file)
    since: datetime | None = None

    def matches(self, event: dict[str, Any]) -> bool:
        if self.agent is not None and event.get("agent") != self.agent:
            return False
        if self.min_level is not None:
            level = LEVEL_ALIASES.get(str(event.get("level", "")), str(event.get("level", "")))
            if LEVELS.get(level, 0) < LEVELS[self.min_level]:
                return False
        if self.event is not None and not _event_matches(str(event.get("event", "")), self.event):
            return False
        if self.since is not None:
            ts = _timestamp(event)
            if ts is None or ts < self.since:
                return False
        return True


def _event_matches(name: str, wanted: str) -> bool:
    if any(c in wanted for c in "*?["):
        return fnmatch.fnmatchcase(name, wanted)
    return name == wanted or name.startswith(wanted + ".")


def _timestamp(event: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(event["ts"]))
    except (KeyError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def log_files(log_file: Path, since: datetime | None) -> list[Path]:
    """The files to read, oldest first: rotated ones (``.1`` newest) only when --since
    reaches back into them (a rotated file's mtime is the time of its last event)."""
    files = [log_file] if log_file.exists() else []
    if since is None:
        return files
    for n in range(1, 1000):
        rotated = log_file.with_name(f"{log_file.name}.{n}")
        if not rotated.exists():
            break
        if datetime.fromtimestamp(rotated.stat().st_mtime, UTC) < since:
            break  # this one and every older one ended before --since
        files.insert(0, rotated)
    return files


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """One event, or None for a line that is not a JSON object (a torn or foreign line)."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def read_events(files: Iterable[Path], log_filter: LogFilter) -> Iterator[dict[str, Any]]:
    """Every matching event in these files, in order."""
    for path in files:
        with path.open("rb") as stream:
            for line in stream:
                event = parse_line(line)
                if event is not None and log_filter.matches(event):
                    yield event


def read_history(
    log_file: Path, log_filter: LogFilter, last: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The matching events of the current file (the ``last`` ones only, when given) and the
    offset just after its last complete line, where following carries on without a gap."""
    shown: deque[dict[str, Any]] = deque(maxlen=last)
    offset = 0
    try:
        stream = log_file.open("rb")
    except FileNotFoundError:
        return [], 0
    with stream:
        for line in stream:
            if not line.endswith(b"\n"):
                break  # being written now: following will take it whole
            offset += len(line)
            event = parse_line(line)
            if event is not None and log_filter.matches(event):
                shown.append(event)
    return list(shown), offset


def follow(
    log_file: Path,
    log_filter: LogFilter,
    stop: threading.Event,
    *,
    start: int | None = None,
    poll_seconds: float = 0.2,
) -> Iterator[dict[str, Any]]:
    """Matching events as they are appended, until ``stop`` is set (``tail -F`` style).

    Starts at byte ``start`` of the file (default: its end); reads a new file from its
    beginning after a rotation or truncation; takes a line only once its newline is written.
    """
    stream: BinaryIO | None = None
    identity: tuple[int, int] | None = None
    pending = b""
    try:
        while not stop.is_set():
            if stream is None:
                try:
                    stream = log_file.open("rb")
                except FileNotFoundError:  # not created yet, or between rotation steps
                    stop.wait(poll_seconds)
                    continue
                stat = os.fstat(stream.fileno())
                identity = (stat.st_dev, stat.st_ino)
                if start is None:
                    stream.seek(0, os.SEEK_END)
                else:
                    stream.seek(start)
                start = 0  # a file that replaces this one is read whole
                pending = b""
            replaced = _replaced(log_file, identity, stream.tell())
            chunk = stream.read()  # after the check: what the old file got last is not lost
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    event = parse_line(line)
                    if event is not None and log_filter.matches(event):
                        yield event
            if replaced:
                stream.close()
                stream = None
            elif not chunk:
                stop.wait(poll_seconds)
    finally:
        if stream is not None:
            stream.close()


def _replaced(path: Path, identity: tuple[int, int] | None, position: int) -> bool:
    """Rotated away (another file now has the name) or truncated under us."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False  # between the rename and the new file: the old one may still grow
    return (stat.st_dev, stat.st_ino) != identity or stat.st_size < position


# -- rendering ----------------------------------------------------------------------------
def _value(value: Any) -> str:
    """A field's value on one line: quoted when it holds spaces, control characters visible."""
    if isinstance(value, str) and value and value.isprintable() and " " not in value:
        return value
    return visible(orjson.dumps(value, default=str).decode())


def short_time(event: dict[str, Any]) -> str:
    ts = _timestamp(event)
    if ts is None:
        return str(event.get("ts", "-"))
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _exception_summary(event: dict[str, Any]) -> str | None:
    exc = event.get("exception")
    if isinstance(exc, list) and exc and isinstance(exc[-1], dict):
        last = exc[-1]
        frames = last.get("frames") or [{}]
        where = frames[-1]
        return (
            f"{last.get('exc_type')}: {last.get('exc_value')} "
            f"({where.get('filename')}:{where.get('lineno')} in {where.get('name')})"
        )
    return None


def event_fields(event: dict[str, Any]) -> str:
    """The ``key=value ...`` part of a line (the dashboard's log page shows it too)."""
    fields = " ".join(
        f"{k}={_value(v)}"
        for k, v in event.items()
        if k not in _LEAD and k != "exception" and v is not None
    )
    summary = _exception_summary(event)
    return fields + (f" exception={_value(summary)}" if summary else "")


def plain_line(event: dict[str, Any]) -> str:
    """``time LEVEL event key=value ...``: grep-able, one line per event."""
    level = str(event.get("level", "-")).upper()
    line = f"{short_time(event)} {level:<8} {event.get('event', '-')}"
    fields = event_fields(event).lstrip()
    return f"{line} {fields}" if fields else line


def rich_line(event: dict[str, Any]) -> Text:
    """The same line, coloured by level; content is never read as markup."""
    level = str(event.get("level", "-"))
    text = Text(short_time(event) + " ", style="dim")
    text.append(f"{level.upper():<8} ", style=LEVEL_STYLES.get(level, ""))
    text.append(str(event.get("event", "-")), style="bold")
    for key, value in event.items():
        if key in _LEAD or key == "exception" or value is None:
            continue
        text.append(f" {key}=", style="cyan")
        text.append(_value(value))
    summary = _exception_summary(event)
    if summary:
        text.append("\n    " + summary, style="red")
    return text


def make_printer(
    out: TextIO, *, colour: bool | None = None, raw: bool = False
) -> Callable[[dict[str, Any]], None]:
    """Where each shown event goes: JSON (``--json``), colour on a terminal, else plain."""
    if raw:

        def print_raw(event: dict[str, Any]) -> None:
            out.write(orjson.dumps(event, default=str).decode() + "\n")
            out.flush()

        return print_raw
    use_colour = out.isatty() if colour is None else colour
    if use_colour:
        console = Console(file=out, highlight=False, soft_wrap=True, force_terminal=True)
        return lambda event: console.print(rich_line(event))

    def print_plain(event: dict[str, Any]) -> None:
        out.write(plain_line(event) + "\n")
        out.flush()

    return print_plain
