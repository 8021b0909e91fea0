"""The ``inboxd`` console script's entry: the CLI imported with the cyclic collector paused.

Importing SQLAlchemy, pydantic, typer and the handlers makes hundreds of thousands of
objects, and the collector walks them again and again while they are being made, a cost
every command would pay. Nothing made by an import is garbage, so it is then frozen: later
collections, in a one-shot command or in the daemon, no longer walk it either.
"""

from __future__ import annotations

import gc


def main() -> None:
    gc.disable()
    try:
        from daemon.cli.app import main as run_cli  # here, not at the top: the point of this module
    finally:
        gc.freeze()
        gc.enable()
    run_cli()
