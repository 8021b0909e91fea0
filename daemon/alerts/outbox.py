"""Alerts waiting to be sent: a burst grouped into one message, and a rate kept.

``add`` is called from the thread that logs (the worker's): it only counts the alert under
its kind and keeps the first few, so it returns at once and the memory held stays bounded
however long the service is away, while every alert is counted. ``take`` (the sender's
thread) waits until a message is due: ``group_seconds`` after the first alert of a burst
(what follows within that time joins it), and never sooner than ``min_interval`` after the
previous message.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from daemon.alerts.events import LOG_EVENT, PLURAL, Alert
from daemon.config import NOTIFY_EVENTS, NotifyEvent


@dataclass
class Group:
    """The alerts of one kind since the last message: all counted, the first few kept."""

    count: int = 0
    first: list[Alert] = field(default_factory=list)


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    problem: bool  # a failure to look at; else news (a batch closed whole, a recovery)
    alerts: int  # how many alerts it carries, for the log


class Outbox:
    def __init__(
        self, *, group_seconds: float, min_interval: float, examples: int, footer: str
    ) -> None:
        self.group_seconds = group_seconds
        self.min_interval = min_interval
        self.examples = examples
        self.footer = footer  # the last line of every message: which daemon says it
        self._groups: dict[NotifyEvent, Group] = {}
        self._first_at: float | None = None  # monotonic time of the burst's first alert
        self._last_sent = float("-inf")
        self._changed = threading.Condition()
        self.added = 0  # every alert ever added (for tests and the log)

    def add(self, alert: Alert) -> None:
        with self._changed:
            group = self._groups.setdefault(alert.kind, Group())
            group.count += 1
            if len(group.first) < self.examples:
                group.first.append(alert)
            self.added += 1
            if self._first_at is None:  # a burst begins: the sender learns when it is due
                self._first_at = time.monotonic()
                self._changed.notify_all()  # (the next ones change nothing it waits for)

    def pending(self) -> int:
        with self._changed:
            return sum(group.count for group in self._groups.values())

    def take(self, stopping: threading.Event) -> Message | None:
        """The next message once it is due (at once when ``stopping`` is set: what is
        pending goes out); None when there is nothing to send and ``stopping`` is set.
        Whoever sets ``stopping`` calls ``wake``."""
        with self._changed:
            while True:
                wait: float | None = None  # nothing pending: until an alert or a wake
                if self._first_at is not None:
                    due = max(
                        self._first_at + self.group_seconds, self._last_sent + self.min_interval
                    )
                    wait = due - time.monotonic()
                    if wait <= 0 or stopping.is_set():
                        return self._message()
                elif stopping.is_set():
                    return None
                self._changed.wait(wait)

    def wake(self) -> None:
        """Let a waiting ``take`` look at ``stopping`` now."""
        with self._changed:
            self._changed.notify_all()

    def _message(self) -> Message:
        groups, self._groups, self._first_at = self._groups, {}, None
        self._last_sent = time.monotonic()
        return render(groups, self.footer)


def render(groups: dict[NotifyEvent, Group], footer: str) -> Message:
    """One message for the groups: a lone alert says itself; a group lists its first few
    and how many more there are, and where the log has them all."""
    kinds = [kind for kind in NOTIFY_EVENTS if kind in groups]
    alerts = sum(groups[kind].count for kind in kinds)
    problem = any(alert.problem for kind in kinds for alert in groups[kind].first)
    if alerts == 1:
        alert = groups[kinds[0]].first[0]
        return Message(f"inboxd: {alert.subject}", f"{alert.line}\n\n{footer}", problem, 1)
    lines: list[str] = []
    titles = []
    for kind in kinds:
        group = groups[kind]
        title = group.first[0].subject if group.count == 1 else f"{group.count} {PLURAL[kind]}"
        titles.append(title)
        lines.append(f"{title}:")
        lines += [f"- {alert.line}" for alert in group.first]
        more = group.count - len(group.first)
        if more:
            lines.append(f"- ... and {more} more (inboxd logs --event '{LOG_EVENT[kind]}')")
        lines.append("")
    return Message(f"inboxd: {'; '.join(titles)}", "\n".join([*lines, footer]), problem, alerts)
