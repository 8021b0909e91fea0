"""The command line: a thin layer over the pipeline, the daemon and the status view.

``cli(*args)`` runs it in-process (tests); ``main()`` is the console script; both go through
``exits.run``, the one error path (an error is one line on stderr). The commands that change
something are here; the read-only ones (status, report, logs, doctor) are in ``views``; what
every command does first (options, settings, database, arguments) is in ``common``.

What a command needs beyond its options (the settings, SQLAlchemy, the pipeline, the status
writer, alembic, rich for a progress bar; the watcher and watchdog, for ``run``) is imported
inside it: typer needs only the signatures to parse a command line or show the help, and every
other command, ``inboxd --help`` first, would otherwise pay for it (docs/performance.md,
"Command-line start"). ``tests/daemon/test_cli_imports.py`` holds that line.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from daemon.cli import exits, views
from daemon.cli.common import (
    DbOpt,
    RootOpt,
    command_settings,
    existing_files,
    intake,
    known_agent,
    open_database,
    start_stream_worker,
    take_in,
)
from daemon.cli.dataset import dataset_app
from daemon.cli.dedup import dedup
from daemon.cli.help_format import FlagsWithoutType
from daemon.errors import InboxdError, UsageError
from daemon.status.escaping import visible

if TYPE_CHECKING:
    import socket

    from daemon.config import Settings
    from daemon.ingest.outcome import FileOutcome
    from daemon.web.server import Listen

LOGGER_NAME = "inboxd.cli"
HttpOpt = Annotated[
    str | None,
    typer.Option(
        "--http",
        metavar="ADDR",
        help="Serve the dashboard on ADDR (127.0.0.1:8377); another address needs http_token.",
    ),
]

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
    cls=FlagsWithoutType,  # no "<bool>" after a flag in the help
)


@app.callback()
def _everywhere(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show an error's traceback (or INBOXD_DEBUG=1).")
    ] = False,
) -> None:
    if debug:
        exits.show_tracebacks()


def _exit_code(outcomes: list[FileOutcome]) -> int:
    return EXIT_REJECTED if any(o.outcome in ("rejected", "failed") for o in outcomes) else EXIT_OK


@app.command()
def run(
    root: RootOpt = None,
    database: DbOpt = None,
    polling: Annotated[
        bool | None, typer.Option("--polling/--no-polling", help="Poll instead of inotify.")
    ] = None,
    http: HttpOpt = None,
) -> None:
    """Run the daemon: catch up on what arrived while stopped, then watch (and with --http
    serve the dashboard beside it)."""
    from daemon.console import started
    from daemon.live.notify import Notifier
    from daemon.live.service import Daemon  # watchdog: only the daemon needs it
    from daemon.logging import get_logger
    from daemon.malloc import give_back_large_blocks

    give_back_large_blocks()
    log = get_logger(LOGGER_NAME)
    settings = command_settings(root, database, polling=polling)
    listening = _listen(settings, http) if http is not None else None  # refused before a start
    daemon = Daemon(settings, notifier=Notifier.from_environment(os.environ))
    stop_requested = threading.Event()
    reload_requested = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop_requested.is_set():
            sys.stdout.flush()
            import os

            daemon.stopped_cold()
            os._exit(EXIT_COLD_STOP)  # cold: the open transaction dies with the process
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, lambda _signum, _frame: reload_requested.set())
    daemon.start()
    web = None
    if listening is not None:
        from daemon.web.launch import start_dashboard  # starlette, uvicorn: only with --http

        web, board = start_dashboard(settings, *listening, live=daemon)
    started()  # what the start imported and made: frozen, out of the collector's way for days
    while not stop_requested.wait(0.2):
        if reload_requested.is_set():
            reload_requested.clear()
            try:
                daemon.reload(command_settings(root, database, polling=polling))
                if web is not None:
                    board.settings = daemon.settings  # agents, silent_after (not the token)
            except InboxdError as exc:  # a broken configuration keeps the old one running
                log.error("daemon.reload_failed", reason=str(exc))
            except Exception:
                log.exception("daemon.reload_failed")
    log.info("daemon.stopping", mode="warm", note="a second SIGTERM stops at once")
    if web is not None:
        web.stop()
    daemon.stop()
    raise typer.Exit(EXIT_OK)


def _listen(settings: Settings, address: str) -> tuple[Listen, socket.socket]:
    """The dashboard's socket, bound before anything starts (the token rule checked)."""
    from daemon.web.server import listen_socket

    return listen_socket(address, has_token=settings.http_token is not None)


@app.command()
def serve(
    http: HttpOpt = "127.0.0.1:8377",
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Serve the dashboard alone against the database (read-only), until stopped."""
    from daemon.cli.common import existing_database, existing_root
    from daemon.logging import get_logger

    settings = existing_root(root, database)
    listening = _listen(settings, http or "127.0.0.1:8377")
    existing_database(settings)  # there, with inboxd's schema (brought to head)
    from daemon.web.launch import start_dashboard
    from daemon.web.server import url_of

    web, _board = start_dashboard(settings, *listening)
    typer.echo(f"dashboard: {url_of(*listening)} (Ctrl-C stops it)")
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop_requested.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: stop_requested.set())
    while not stop_requested.wait(0.2):
        pass
    get_logger(LOGGER_NAME).info("web.stopping")
    web.stop()
    raise typer.Exit(EXIT_OK)


@app.command()
def scan(root: RootOpt = None, database: DbOpt = None) -> None:
    """Process every file waiting in the tree, then exit (0 ok, 3 some file rejected)."""
    from daemon.ingest.oneshot import run_burst

    settings = command_settings(root, database)
    db = open_database(settings)
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
    files: Annotated[
        list[Path], typer.Argument(help="Files in the tree (from outside it: with --agent).")
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, change nothing.")] = False,
    agent: Annotated[
        str | None,
        typer.Option("--agent", help="Whose delivery a file from outside the tree is."),
    ] = None,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Process the given files now (same pipeline as the daemon); a file from outside the
    tree with --agent AGENT is copied into outbox/AGENT/ first."""
    from daemon.malloc import give_back_large_blocks

    give_back_large_blocks()
    settings = command_settings(root, database)
    if agent is not None:
        known_agent(settings, agent)
    taken = [intake(settings, f, agent, dry_run=dry_run) for f in existing_files(files)]
    start_stream_worker(settings, [item.path for item in taken])
    from daemon.cli.progress_bar import progress_reporter, render_comparison
    from daemon.ingest.assembly import assemble
    from daemon.ingest.oneshot import prepare

    db = open_database(settings)
    prepare(settings, db)
    pipeline, _ = assemble(settings, db, "no-writes" if dry_run else "write-now")
    outcomes = []
    with progress_reporter() as progress:
        for item in taken:
            outcomes.append(pipeline.process(take_in(item), dry_run=dry_run, progress=progress))
    for o in outcomes:
        r = o.result
        line = f"{o.outcome:9} {visible(o.path)}  stored {r.stored}  duplicates {r.duplicate}"
        line += f"  skipped {r.skipped}  filtered {r.filtered}"
        typer.echo(line + (f"\n          {visible(o.reason)}" if o.reason else ""))
        if "comparison" in r.details:
            typer.echo(render_comparison(r.details["comparison"]))
    raise typer.Exit(_exit_code(outcomes))


@app.command("backup")
def backup_cmd(
    list_: Annotated[
        bool, typer.Option("--list", help="Show the backups kept: name, size, time.")
    ] = False,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Take an online backup of the (SQLite) database into var/backups/ (keeps backup_keep)."""
    from daemon.store.backup import backup_and_prune, list_backups
    from daemon.store.models import utcnow

    settings = command_settings(root, database)
    folder = settings.backup_dir
    if list_:
        kept = list_backups(folder)
        count = len(kept) or "no"
        typer.echo(f"{count} backups in {folder} (the newest {settings.backup_keep} are kept)")
        for b in kept:
            typer.echo(f"{b.path.name}  {b.size} bytes  {b.taken_at:%Y-%m-%d %H:%M:%S} UTC")
        return
    taken, _pruned = backup_and_prune(settings.url, folder, utcnow(), settings.backup_keep)
    typer.echo(str(taken))


@app.command("restore")
def restore_cmd(
    backup_file: Annotated[Path, typer.Argument(help="A file from var/backups/.")],
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Put a backup's content back into the database (stop the daemon first)."""
    from daemon.store.backup import backup, restore
    from daemon.store.models import utcnow

    settings = command_settings(root, database)
    if not backup_file.is_file():
        raise UsageError(
            f"no backup file at {backup_file}; the backups are in {settings.backup_dir}"
        )
    safety = backup(settings.url, settings.backup_dir, utcnow())
    restore(settings.url, backup_file)
    typer.echo(f"restored {backup_file} (the database as it was is in {safety})")


@app.command()
def init(root: RootOpt = None, database: DbOpt = None) -> None:
    """Create the tree and the database, or adopt an existing (legacy) database in place."""
    from daemon.ingest.oneshot import prepare
    from daemon.status.writer import StatusWriter
    from daemon.store import migrate

    settings = command_settings(root, database)
    db = open_database(settings)
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
    from daemon.config import load_settings

    settings = load_settings(root=root)  # no logging: nothing is imported yet
    try:
        done = example.write_demo(settings.root_path)
    except OSError as exc:
        raise InboxdError(f"demo: nothing more written: {exc}") from exc
    if isinstance(done, example.Refused):
        names = ", ".join(str(rel) for rel in done.conflicts)
        raise InboxdError(
            f"demo: refusing to overwrite files with other content: {names}; "
            "move them away, or give an empty --root"
        )
    typer.echo(
        f"demo: {len(done.written)} files written into {settings.root_path}"
        f" ({len(done.unchanged)} already there); next: inboxd scan, or a running daemon"
    )
    note = example.settings_note(settings.agents, settings.refiner)
    if note:
        typer.echo(note, err=True)


def _backup_before_retry(settings: Settings, files: int) -> None:
    """``retry --rejected`` may import many files at once: the database as it was is kept."""
    from daemon.logging import get_logger
    from daemon.store.backup import automatic_backup
    from daemon.store.models import utcnow

    taken = automatic_backup(settings.url, settings.backup_dir, utcnow(), settings.backup_keep)
    get_logger(LOGGER_NAME).info(
        "backup.before_retry", files=files, **taken.fields(settings.root_path)
    )


@app.command()
def retry(
    path: Annotated[Path | None, typer.Argument(help="A rejected file to process again.")] = None,
    rejected: Annotated[bool, typer.Option("--rejected", help="Every rejected file.")] = False,
    root: RootOpt = None,
    database: DbOpt = None,
) -> None:
    """Process rejected files again (after a fix to inboxd or its configuration)."""
    from daemon.ingest import ledger
    from daemon.ingest.assembly import assemble
    from daemon.ingest.oneshot import prepare

    if path is None and not rejected:
        raise UsageError("give a PATH or --rejected (see 'inboxd retry --help')")
    named = existing_files([path]) if path is not None else []
    settings = command_settings(root, database)
    db = open_database(settings)
    prepare(settings, db)
    pipeline, _ = assemble(settings, db, "write-now")
    if named:
        targets = named
    else:
        with db.reader() as db_session:
            rels = ledger.retryable_paths(db_session)
        targets = sorted({settings.root_path / rel for rel in rels})
        if targets:
            _backup_before_retry(settings, len(targets))
    outcomes = [pipeline.process(target, force=True) for target in targets if target.exists()]
    for o in outcomes:
        reason = f"  {visible(o.reason)}" if o.reason else ""
        typer.echo(f"{o.outcome:9} {visible(o.path)}{reason}")
    raise typer.Exit(_exit_code(outcomes))


for name, command in views.COMMANDS.items():
    app.command(name)(command)
app.command("dedup")(dedup)
app.add_typer(dataset_app)


def cli(*args: str) -> int:
    """Run the CLI in-process and return its exit code (an error: one line on stderr)."""
    return exits.run(app, list(args))


def main() -> None:
    """The console script: run the command, then leave without tearing the interpreter down.

    Python's own shutdown frees every module and object one by one, which after importing
    SQLAlchemy and pydantic is a cost every command an agent runs pays (docs/performance.md).
    Everything a normal exit does that matters is done first, in its order: the other
    non-daemon threads are waited for (a large file's WAL checkpoint, daemon/store/
    checkpoint.py: ``inboxd process`` ends once it is done, as before), then the atexit
    handlers (which close the database through its finalizer and flush the log files), then
    the flush of stdout and stderr.
    """
    code = exits.run(app)
    for thread in threading.enumerate():
        if not thread.daemon and thread is not threading.main_thread():
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
