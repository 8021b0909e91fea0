"""A webhook receiver, and a daemon that notifies it, with its events in the JSON log."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.live.service import Daemon
from tests.alerts.receiver import Receiver

Notifying = Callable[..., Daemon]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def notifying_daemon(
    receiver: Receiver, start_daemon: Callable[..., Daemon], json_logs: Path
) -> Notifying:
    """Start a daemon whose notifications go to the receiver: quick grouping and retries
    (each test overrides what it is about)."""

    def factory(**overrides: Any) -> Daemon:
        given: dict[str, Any] = {
            "notify_urls": [receiver.url],
            "notify_group_seconds": 0.3,
            "notify_min_interval": 0,
            "notify_retry_max_seconds": 0.2,
            "notify_check_seconds": 0.1,
            **overrides,
        }
        return start_daemon(**given)

    return factory


def events(log_file: Path, name: str) -> list[dict[str, Any]]:
    """The logged events of that name, so far."""
    if not log_file.exists():
        return []
    found = []
    for line in log_file.read_text("utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # a line being written
            continue
        if event.get("event") == name:
            found.append(event)
    return found
