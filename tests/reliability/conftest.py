"""Fixtures of the reliability scenarios: daemons run as real child processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.daemon_process import DaemonProcess


@pytest.fixture
def processes() -> Iterator[list[DaemonProcess]]:
    """The daemon processes a test starts (append them): each is killed at teardown."""
    started: list[DaemonProcess] = []
    yield started
    for process in started:
        process.kill()
