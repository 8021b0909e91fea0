"""The command line: a thin layer over the pipeline, the daemon and the status view.

``cli(*args)`` runs it in-process (tests); ``main()`` is the console script. Modules only
some commands need (doctor, logs, backup, report, progress bars, alembic; the watcher and
watchdog, for ``run``) are imported inside those commands: every other command would
otherwise pay for them.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections import deque
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from daemon.config import Settings, load_settings
from daemon.ingest import ledger
from daemon.ingest.assembly import assemble
from daemon.ingest.oneshot import prepare, run_burst
from daemon.live.notify import Notifier
from daemon.logging import configure_logging, get_logger
from daemon.status.render import render_markdown
from daemon.status.view import agent_view, database_totals
from daemon.status.writer import StatusWriter
from daemon.store import migrate
from daemon.store.engine import Database
from daemon.store.models import utcnow

if TYPE_CHECKING:
    from daemon.ingest.pipeline import FileOutcome

log = get_logger("inboxd.cli")

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_REJECTED = 3
EXIT_COLD_STOP = 143

app = typer.Typer(
    name="inboxd",
    help="Watch agents' inbox/ and outbox/ folders, import deliveries, write status back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

RootOpt = Annotated[
    Path | None, typer.Option("--root", help="The watched tree (default: INBOXD_ROOT or cwd).")
]
DbOpt = Annotated[
    str | None, typer.Option("--database", help="SQLAlchemy URL (default: <root>/var/inboxd.db).")
]


def _settings(root: Path | None, database: str | None, **more: Any) -> Settings:
    settings = load_settings(root=root, database_url=database, **more)
    configure_logging(
        settings.log_file, level=settings.log_level, journal_stream=os.environ.get("JOURNAL_STREAM")
    )
    return settings


def _exit_code(outcomes: list[FileOutcome]) -> int:
    return EXIT_REJECTED if any(o.outcome in ("rejected", "failed") for o in outcomes) else EXIT_OK


@app.command()
def run(
    root: RootOpt = None,
    database: DbOpt = None,
    polling: Annotated[
        bool | None, typer.Option("--polling/--no-polling", help="Poll instead of inotify.")
    ] = None,
) -> None:
    """Run the daemon: catch up on what arrived while stopped, then watch."""
    from daemon.live.service import Daemon  # watchdog: only the daemon needs it

    settings = _settings(root, database, polling=polling)
    daemon = Daemon(settings, notifier=Notifier.from_environment(os.environ))
    stop_requested = threading.Event()
    reload_requested = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop_requested.is_set():
            sys.stdout.flush()
            import os

            os._exit(EXIT_COLD_STOP)  # cold: the open transaction dies with the process
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, lambda _signum, _frame: reload_requested.set())
    daemon.start()
    while not stop_requested.wait(0.2):
        if reload_requested.is_set():
            reload_requested.clear()
            try:
                daemon.reload(_settings(root, database, polling=polling))
            except Exception:  # a broken configuration keeps the old one running
                log.exception("daemon.reload_failed")
    log.info("daemon.stopping", mode="warm", note="a second SIGTERM stops at once")
    daemon.stop()
    raise typer.Exit(EXIT_OK)


@app.command()
def scan(root: RootOpt = None, database: DbOpt = None) -> None:
    """Process every file waiting in the tree, then exit (0 ok, 3 some file rejected)."""
    settings = _settings(root, database)
    db = Database.for_settings(settings)
    outcomes = run_burst(settings, db)
    done = [o for o in outcomes if o.outcome not in ("ignored",)]
    typer.echo(
        f"{len(done)} files: "
        + ", ".join(
            f"{k} {sum(1 for o in done if o.outcome == k)}"
            for k in sorted({o.outcome for o in done})
        )
    )
    raise typer.Exit(_exit_code(outcomes))


@app.command()
def process(
    files: Annotated[list[Path], typer.Argument(help="Files inside the tree.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, change nothing.")] = False,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Process the given files now (same pipeline as the daemon)."""
    from daemon.cli.progress_bar import progress_reporter, render_comparison  # rich: slow import

    settings = _settings(root, database)
    db = Database.for_settings(settings)
    prepare(settings, db)
    pipeline, _ = assemble(settings, db, "no-writes" if dry_run else "write-now")
    outcomes = []
    with progress_reporter() as progress:
        for path in files:
            outcomes.append(pipeline.process(path.resolve(), dry_run=dry_run, progress=progress))
    for o in outcomes:
        r = o.result
        line = f"{o.outcome:9} {o.path}  stored {r.stored}  duplicates {r.duplicate}"
        line += f"  skipped {r.skipped}  filtered {r.filtered}"
        typer.echo(line + (f"\n          {o.reason}" if o.reason else ""))
        if "comparison" in r.details:
            typer.echo(render_comparison(r.details["comparison"]))
    raise typer.Exit(_exit_code(outcomes))


@app.command()
def status(
    agent: Annotated[str | None, typer.Option("--agent", help="One agent only.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
    write: Annotated[bool, typer.Option("--write", help="Rewrite status files.")] = False,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Show what the database knows, per agent (and rewrite the status files with --write)."""
    settings = _settings(root, database)
    db = Database.for_settings(settings)
    migrate.upgrade(db)
    agents = [agent] if agent else settings.agents
    if write:
        StatusWriter(settings, db).write(agents)
    with db.reader() as db_session:
        views = {a: agent_view(db_session, settings, a) for a in agents}
        by_outcome = database_totals(db_session)
        summary = {
            "pairs": by_outcome["pairs"],
            "files": by_outcome["files"],
            "database": by_outcome,
            "agents": views,
        }
    if as_json:
        sys.stdout.write(
            orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
            + "\n"
        )
    else:
        for view in views.values():
            typer.echo(render_markdown(view))


@app.command("backup")
def backup_cmd(root: RootOpt = None, database: DbOpt = None) -> None:
    """Take an online backup of the (SQLite) database into var/backups/."""
    from daemon.store.backup import backup

    settings = _settings(root, database)
    typer.echo(str(backup(settings.url, settings.backup_dir, utcnow())))


@app.command("restore")
def restore_cmd(
    backup_file: Annotated[Path, typer.Argument(help="A file from var/backups/.")],
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Put a backup's content back into the database (stop the daemon first)."""
    from daemon.store.backup import backup, restore

    settings = _settings(root, database)
    safety = backup(settings.url, settings.backup_dir, utcnow())
    restore(settings.url, backup_file)
    typer.echo(f"restored {backup_file} (the database as it was is in {safety})")


@app.command("report")
def report_cmd(
    which: Annotated[str, typer.Argument(help="Only 'gap' for now.")] = "gap",
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Print a report: ``gap`` (coverage, overlap, quality, topics, progress)."""
    from daemon.status.gap_report import gap_report

    if which != "gap":
        typer.echo(f"unknown report {which!r}; known: gap", err=True)
        raise typer.Exit(EXIT_FATAL)
    settings = _settings(root, database)
    db = Database.for_settings(settings)
    migrate.upgrade(db)
    with db.reader() as db_session:
        typer.echo(gap_report(db_session, settings, utcnow()))


@app.command()
def init(root: RootOpt = None, database: DbOpt = None) -> None:
    """Create the tree and the database, or adopt an existing (legacy) database in place."""
    settings = _settings(root, database)
    db = Database.for_settings(settings)
    before = migrate.current_revision(db)
    backfill = prepare(settings, db)
    typer.echo(f"database: {db.engine.url.render_as_string(hide_password=True)}")
    typer.echo(f"schema: {before or 'none'} -> {migrate.current_revision(db)}")
    typer.echo(f"question keys filled in: {backfill.keyed}")
    known = migrate.known_duplicates(db)
    typer.echo(f"duplicate questions already in the database (kept, marked): {len(known)}")
    for qa_id, question in known[:50]:
        typer.echo(f"  qa_id {qa_id}: {question[:100]}")
    StatusWriter(settings, db).write_all()


@app.command()
def demo(root: RootOpt = None) -> None:
    """Write an example delivery set into the tree (then `inboxd scan`, or a running daemon)."""
    from daemon.cli import demo as example

    settings = load_settings(root=root)  # no logging: nothing is imported yet
    try:
        done = example.write_demo(settings.root_path)
    except OSError as exc:
        typer.echo(f"demo: nothing more written: {exc}", err=True)
        raise typer.Exit(EXIT_FATAL) from None
    if isinstance(done, example.Refused):
        names = ", ".join(str(rel) for rel in done.conflicts)
        typer.echo(f"demo: refusing to overwrite files with other content: {names}", err=True)
        raise typer.Exit(EXIT_FATAL)
    typer.echo(
        f"demo: {len(done.written)} files written into {settings.root_path}"
        f" ({len(done.unchanged)} already there); next: inboxd scan, or a running daemon"
    )
    note = example.settings_note(settings.agents, settings.refiner)
    if note:
        typer.echo(note, err=True)


@app.command()
def retry(
    path: Annotated[Path | None, typer.Argument(help="A rejected file to process again.")] = None,
    rejected: Annotated[bool, typer.Option("--rejected", help="Every rejected file.")] = False,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Process rejected files again (after a fix to inboxd or its configuration)."""
    if path is None and not rejected:
        typer.echo("give a PATH or --rejected", err=True)
        raise typer.Exit(EXIT_FATAL)
    settings = _settings(root, database)
    db = Database.for_settings(settings)
    prepare(settings, db)
    pipeline, _ = assemble(settings, db, "write-now")
    if path is not None:
        targets = [path.resolve()]
    else:
        with db.reader() as db_session:
            rels = ledger.retryable_paths(db_session)
        targets = sorted({settings.root_path / rel for rel in rels})
    outcomes = [pipeline.process(target, force=True) for target in targets if target.exists()]
    for o in outcomes:
        typer.echo(f"{o.outcome:9} {o.path}" + (f"  {o.reason}" if o.reason else ""))
    raise typer.Exit(_exit_code(outcomes))


@app.command()
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

    try:
        log_filter = logview.LogFilter(
            agent=agent,
            min_level=logview.normalise_level(level) if level else None,
            event=event,
            since=logview.parse_since(since) if since else None,
        )
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_FATAL) from None
    log_file = load_settings(root=root).log_file  # no configure_logging: stdout is the view
    show = logview.make_printer(sys.stdout, raw=as_json)
    if not log_file.exists() and not follow_:
        typer.echo(f"no log file at {log_file} (has the daemon run with this root?)", err=True)
        raise typer.Exit(EXIT_FATAL)
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


@app.command()
def doctor(
    root: RootOpt = None,
    database: DbOpt = None,
    min_free_gb: Annotated[
        float, typer.Option("--min-free-gb", help="Warn when less disk than this is free.")
    ] = 1.0,
) -> None:
    """Check the root, folders, database and migrations, inotify limit and disk; say what to fix."""
    from daemon.cli import doctor as health  # imports alembic

    settings = load_settings(root=root, database_url=database)  # no logging: it creates var/
    findings = health.run_checks(settings, min_free_bytes=int(min_free_gb * 1024**3))
    typer.echo(health.render(findings, colour=sys.stdout.isatty()))
    raise typer.Exit(EXIT_FATAL if health.failed(findings) else EXIT_OK)


def cli(*args: str) -> int:
    """Run the CLI in-process and return its exit code."""
    try:
        code = app(list(args), standalone_mode=False)  # returns a typer.Exit's code
    except SystemExit as exc:
        return int(exc.code or 0)
    except typer.Exit as exc:
        return int(exc.exit_code)
    return int(code or EXIT_OK)


def main() -> None:
    """The console script: run the command, then leave without tearing the interpreter down.

    Python's own shutdown frees every module and object one by one, which after importing
    SQLAlchemy and pydantic is a cost every command an agent runs pays (docs/performance.md).
    Everything a normal exit does that matters is done first: the atexit handlers (which close
    the database through its finalizer and flush the log files) and the flush of stdout and
    stderr. While another non-daemon thread still runs, the exit is Python's normal one, which
    waits for it.
    """
    try:
        app()
        code: str | int | None = EXIT_OK
    except SystemExit as exc:
        code = exc.code
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what SystemExit("message") prints
        code = EXIT_FATAL
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or EXIT_OK)
