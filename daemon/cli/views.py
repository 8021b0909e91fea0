"""The read-only commands: ``status``, ``report``, ``logs`` and ``doctor``.

They show what is there and change nothing: none of them creates a root, a folder or a
database (a root or database that is missing is an error saying to run ``inboxd init``).
``status --write`` rewrites the status files, a view too. Registered on the app by
``daemon/cli/app``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from daemon.cli.common import DbOpt, RootOpt, existing_database, existing_root, known_agent
from daemon.cli.exits import EXIT_OK
from daemon.errors import EXIT_FAILED, InboxdError, UsageError

if TYPE_CHECKING:
    from daemon.config import Settings

# What a command needs beyond its options (the status view, the database, the settings) is
# imported inside it: registering these commands must not import it for every other command.


def status(
    agent: Annotated[str | None, typer.Option("--agent", help="One agent only.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
    write: Annotated[bool, typer.Option("--write", help="Rewrite status files.")] = False,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Read the database even when the status files are current."),
    ] = False,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Show what the database knows, per agent (and rewrite the status files with --write)."""
    settings = existing_root(root, database)
    agents = [known_agent(settings, agent)] if agent else settings.agents
    shown = None if write or fresh else _current_status(settings, agents, with_totals=as_json)
    if shown is None:
        shown = _status_from_database(settings, agents, write=write)
    views, totals = shown
    if as_json:
        summary = {
            "pairs": totals["pairs"],
            "files": totals["files"],
            "database": totals,
            "agents": views,
        }
        sys.stdout.write(
            orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
            + "\n"
        )
    else:
        from daemon.status.render import render_markdown

        for view in views.values():
            typer.echo(render_markdown(view))


StatusShown = tuple[dict[str, dict[str, Any]], dict[str, Any]]  # views, whole-database totals


def _current_status(
    settings: Settings, agents: list[str], *, with_totals: bool
) -> StatusShown | None:
    """The status files as they are, when all are current (``daemon/status/current``): no
    SQLAlchemy imported. The totals (``--json``) are the orchestrator's, without its tiers."""
    from daemon.cli.common import sqlite_file
    from daemon.status.current import current_views

    database = sqlite_file(settings)
    if database is None:
        return None
    orchestrator = settings.orchestrator
    read = [*agents, orchestrator] if with_totals and orchestrator not in agents else agents
    views = current_views(settings, read, database)
    if views is None:
        return None
    totals: dict[str, Any] = {}
    if with_totals:
        if "database" not in views[orchestrator]:
            return None
        totals = {k: v for k, v in views[orchestrator]["database"].items() if k != "tiers"}
    return {a: views[a] for a in agents}, totals


def _status_from_database(settings: Settings, agents: list[str], *, write: bool) -> StatusShown:
    from daemon.status.view import status_summary

    db = existing_database(settings)
    if write:
        from daemon.status.writer import StatusWriter

        StatusWriter(settings, db).write(agents)
    with db.reader() as db_session:
        summary = status_summary(db_session, settings, agents)
    return summary["agents"], summary["database"]


def report(
    which: Annotated[str, typer.Argument(help="Only 'gap' for now.")] = "gap",
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Print a report: ``gap`` (coverage, overlap, quality, topics, progress)."""
    from daemon.status.gap_report import gap_report
    from daemon.store.models import utcnow

    if which != "gap":
        raise UsageError(f"unknown report {which!r}; the reports are: gap")
    settings = existing_root(root, database)
    db = existing_database(settings)
    with db.reader() as db_session:
        typer.echo(gap_report(db_session, settings, utcnow()))


def logs(
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    agent: Annotated[str | None, typer.Option("--agent", help="One agent's events.")] = None,
    level: Annotated[
        str | None,
        typer.Option("--level", help="Minimum level: debug, info, warning, error, critical."),
    ] = None,
    event: Annotated[
        str | None,
        typer.Option("--event", help="An event name, a prefix (file) or a glob (file.rej*)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="An ISO time (local unless it says) or a span: 10m, 2h, 1d."),
    ] = None,
    lines: Annotated[
        int | None,
        typer.Option(
            "--lines", "-n", help="Only the last N past events (default: all; 10 with -f)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the JSON lines as stored.")
    ] = False,
    root: RootOpt = None,
) -> None:
    """Show (and with -f follow) the daemon's log file, filtered, coloured on a terminal."""
    from daemon.cli import logview
    from daemon.config import load_settings

    if lines is not None and lines < 0:
        raise UsageError(f"--lines must be 0 or more (got {lines})")
    try:
        log_filter = logview.LogFilter(
            agent=agent,
            min_level=logview.normalise_level(level) if level else None,
            event=event,
            since=logview.parse_since(since) if since else None,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    log_file = load_settings(root=root).log_file  # no configure_logging: stdout is the view
    show = logview.make_printer(sys.stdout, raw=as_json)
    if not log_file.exists() and not follow_:
        raise InboxdError(f"no log file at {log_file} (has the daemon run with this root?)")
    last = lines if lines is not None else (10 if follow_ else None)
    rotated = logview.log_files(log_file, log_filter.since)[:-1]
    shown: deque[dict[str, Any]] = deque(logview.read_events(rotated, log_filter), maxlen=last)
    current, offset = logview.read_history(log_file, log_filter)
    shown.extend(current)
    try:
        for past in shown:
            show(past)
        if follow_:
            for new in logview.follow(log_file, log_filter, threading.Event(), start=offset):
                show(new)
    except KeyboardInterrupt:  # Ctrl-C ends -f
        raise typer.Exit(EXIT_OK) from None
    except BrokenPipeError:  # `inboxd logs | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_OK) from None


def doctor(
    root: RootOpt = None,
    database: DbOpt = None,
    min_free_gb: Annotated[
        float, typer.Option("--min-free-gb", help="Warn when less disk than this is free.")
    ] = 1.0,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Also run the engine's integrity checks (reads the whole database)."
        ),
    ] = False,
) -> None:
    """Check the root, folders, database (answers, at head, writable), inotify limit and disk;
    with --deep the database's integrity and constraints too; say what to fix."""
    from daemon.cli import doctor as health  # imports alembic
    from daemon.config import load_settings

    settings = load_settings(root=root, database_url=database)  # no logging: it creates var/
    findings = health.run_checks(settings, deep=deep, min_free_bytes=int(min_free_gb * 1024**3))
    typer.echo(health.render(findings, colour=sys.stdout.isatty()))
    raise typer.Exit(EXIT_FAILED if health.failed(findings) else EXIT_OK)


COMMANDS: dict[str, Callable[..., None]] = {
    "status": status,
    "report": report,
    "logs": logs,
    "doctor": doctor,
}
