"""Which logged events a person is told of, and the one line each becomes.

An ``Alert`` is what goes into a notification; ``alert_for`` makes one from an event's fields,
or None for an event no one is told of. Every string an agent controls (a file name, a
reason) goes through ``shown``: one line, control characters visible, no mention that pings
a channel, and short.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from daemon.config import NotifyEvent
from daemon.status.escaping import visible

MAX_SHOWN = 300  # characters of one agent string in a message (a reason can be long)
WORD_JOINER = "\u2060"  # after "@": "@channel" stays text on Slack, Discord, Teams


@dataclass(frozen=True)
class Alert:
    kind: NotifyEvent
    subject: str  # the message's title when it is alone
    line: str  # what it says, one line (listed under a grouped message's title)
    problem: bool = True  # False: news or a recovery


# the log event each kind comes from, for `inboxd logs --event ...` in a grouped message
LOG_EVENT: dict[NotifyEvent, str] = {
    "file_rejected": "file.rejected",
    "batch_closed": "batch.closed",
    "agent_silent": "agent.*",
    "database_waiting": "database.*",
    "unclean_start": "daemon.unclean_stop",
}
PLURAL: dict[NotifyEvent, str] = {
    "file_rejected": "files rejected",
    "batch_closed": "batches closed",
    "agent_silent": "agent changes",
    "database_waiting": "database changes",
    "unclean_start": "unclean stops",
}


def shown(value: Any) -> str:
    """An agent's string as a message shows it: data, never layout or a mention."""
    text = visible(str(value)).replace("@", "@" + WORD_JOINER)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def duration(seconds: float) -> str:
    """``45s``, ``12m``, ``3h05m``, ``2d04h``: how long, as a person says it."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if hours == 0:
        return f"{minutes}m"
    if days == 0:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{days}d{hours % 24:02d}h"


def _numbers(values: Any) -> str:
    return ", ".join(f"{int(n):02d}" for n in values) if values else "none"


def _rejected(event: Mapping[str, Any]) -> Alert:
    agent = shown(event.get("agent"))
    # the reason names the file and the place (line, column) already
    reason = shown(event.get("reason") or event.get("path"))
    return Alert("file_rejected", f"file rejected ({agent})", f"{agent}: {reason}")


def _batch_closed(event: Mapping[str, Any]) -> Alert:
    agent, batch = shown(event.get("agent")), event.get("batch")
    indicators = event.get("missing_indicators") or {}
    owed = sum(len(names) for names in indicators.values())
    parts = [f"missing sessions {_numbers(event.get('missing_sessions'))}"]
    if owed:
        parts.append(f"{owed} indicators missing in sessions {_numbers(indicators)}")
    for claim in event.get("claims_disagree") or ():
        parts.append(
            f"claims {shown(claim['claim'])} {claim['claimed']}, database {claim['database']}"
        )
    parts.append(f"pairs {event.get('pairs')}")
    if event.get("report"):
        parts.append(f"report {shown(event['report'])}")
    complete = not (event.get("missing_sessions") or owed or event.get("claims_disagree"))
    return Alert(
        "batch_closed",
        f"batch {batch} closed ({agent})",
        f"{agent}: batch {batch} closed; " + "; ".join(parts),
        problem=not complete,
    )


def _silent(event: Mapping[str, Any]) -> Alert:
    agent = shown(event.get("agent"))
    last = event.get("last_file")
    since = f"last file {shown(last)} at {event.get('last_at')}" if last else "no file yet"
    return Alert(
        "agent_silent",
        f"{agent} silent for {duration(event.get('silent_s', 0))}",
        f"{agent}: silent for {duration(event.get('silent_s', 0))} ({since}); "
        f"open sessions {_numbers(event.get('open_sessions'))}",
    )


def _active(event: Mapping[str, Any]) -> Alert:
    agent = shown(event.get("agent"))
    return Alert(
        "agent_silent",
        f"{agent} delivering again",
        f"{agent}: delivering again ({shown(event.get('path'))})",
        problem=False,
    )


def _waiting(event: Mapping[str, Any]) -> Alert:
    waited = duration(event.get("waiting_s", 0))
    return Alert(
        "database_waiting",
        f"files waiting for the database for {waited}",
        f"files waiting for the database for {waited} (since {event.get('since')}): "
        f"{shown(event.get('reason'))}",
    )


def _answering(event: Mapping[str, Any]) -> Alert:
    waited = duration(event.get("waited_s", 0))
    return Alert(
        "database_waiting",
        "database answering again",
        f"database answering again after {waited}",
        problem=False,
    )


def _unclean(event: Mapping[str, Any]) -> Alert:
    return Alert(
        "unclean_start",
        "started after an unclean stop",
        f"started after an unclean stop: the run started {event.get('previous_start')} "
        f"(pid {event.get('previous_pid')}) ended without a warm stop (killed, crashed, "
        "out of memory or stopped cold); files in hand then were rolled back and are "
        "taken again",
    )


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], Alert]] = {
    "file.rejected": _rejected,
    "batch.closed": _batch_closed,
    "agent.silent": _silent,
    "agent.active": _active,
    "database.waiting": _waiting,
    "database.answering": _answering,
    "daemon.unclean_stop": _unclean,
}


def alert_for(event: Mapping[str, Any]) -> Alert | None:
    """The alert an event makes, or None (the event tells no one): one dictionary look-up
    for most events, since this runs in the thread that logs."""
    build = _BUILDERS.get(event.get("event", ""))
    return build(event) if build is not None else None
