"""The ``inboxd`` console script's entry: the cyclic collector kept out of a command's start.

Importing SQLAlchemy, pydantic, typer and the handlers makes a hundred thousand objects or
more, and the collector walks them again and again while they are being made: at its usual
thresholds, a tenth of ``inboxd status``'s time. Nothing made by an import is garbage.

The command line itself is imported with the collector paused, then frozen. Each command
imports what it needs when it runs (daemon/cli/app.py), so the collector then waits until
``START_OBJECTS`` objects have been made: a command that ends before (``status``, ``report``,
the help, a small ``process``) never runs it; one that keeps working is collected once over
everything, and from then on at the usual thresholds. The daemon calls ``started()`` once it
is running: what its start made is frozen, and the collector runs as usual from then on, with
no collection of that size in its first minutes.
"""

from __future__ import annotations

import gc
from typing import Any

# Container objects made before the collector first runs: twice what the largest command's
# start makes (``dataset snapshot``, ~150,000 measured with the collector off).
START_OBJECTS = 300_000

_usual_thresholds: tuple[int, ...] | None = None  # set while a command is starting


def main() -> None:
    gc.disable()
    try:
        from daemon.cli.app import main as run_cli  # here, not at the top: the point of this module
    finally:
        gc.freeze()
        gc.enable()
    _start_phase()
    run_cli()


def started() -> None:
    """A command that keeps running is set up: what its start made is frozen out of the
    collector's way, which runs at its usual thresholds from now. Nothing when the command
    line is not run by ``main`` (in-process, in the tests)."""
    if _usual_thresholds is not None:
        gc.freeze()
        _end_start_phase()


def _start_phase() -> None:
    global _usual_thresholds
    _usual_thresholds = gc.get_threshold()
    gc.set_threshold(START_OBJECTS, *_usual_thresholds[1:])
    gc.callbacks.append(_after_first_collection)


def _after_first_collection(phase: str, _info: dict[str, Any]) -> None:
    if phase == "stop":
        _end_start_phase()


def _end_start_phase() -> None:
    """The usual thresholds back; the callback stays in the list (removing it while the
    collector runs the list would skip the next one) and does nothing from now."""
    global _usual_thresholds
    if _usual_thresholds is not None:
        gc.set_threshold(*_usual_thresholds)
        _usual_thresholds = None
