"""``inboxd dedup --rebuild``: near-duplicate signatures and marks for the pairs stored before
(docs/near-duplicates.md). What it needs is imported inside it, as in ``app``."""

from __future__ import annotations

from typing import Annotated

import typer

from daemon.cli.common import DbOpt, RootOpt, command_settings, open_database
from daemon.errors import UsageError


def dedup(
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Index every pair stored without a signature and mark its near-duplicates"
            " (resumable: a second run goes on where the first stopped).",
        ),
    ] = False,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Near-duplicates among the pairs stored before they were looked for on import."""
    from daemon.cli.progress_bar import progress_reporter  # rich: slow import
    from daemon.ingest.oneshot import prepare
    from daemon.neardup.rebuild import rebuild as rebuild_index

    if not rebuild:
        raise UsageError("give --rebuild (see 'inboxd dedup --help')")
    settings = command_settings(root, database)
    db = open_database(settings)
    prepare(settings, db)
    with progress_reporter("indexing pairs") as progress:
        done = rebuild_index(db, settings, progress)
    typer.echo(
        f"pairs indexed: {done.indexed}, near-duplicates marked: {done.marked}"
        f" (threshold {settings.near_duplicate_threshold}); in the index now: {done.total_indexed}"
    )
