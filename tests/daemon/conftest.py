"""Fixtures shared by the command-line tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Run, cli_runner


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], root: Path) -> Iterator[Run]:
    """``inboxd ARGS --root <root>`` in-process: (exit code, output without JSON log lines).

    A module with another root (or none) defines its own ``run``, which takes precedence.
    """
    with cli_runner(capsys, "--root", str(root)) as invoke:
        yield invoke
