"""What commands do before their own work: options, settings, the database, arguments checked.

Each check ends a mistake early with an error that says what to do (``daemon/cli/exits``
prints it in one line): an unknown agent, a file that does not exist, a file from outside
the tree, a root or database that is not there. Read-only commands (``status``, ``report``)
open only a database that exists: they never create a root or a database.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.cli.exits import debugging, one_line
from daemon.errors import InboxdError, UsageError
from daemon.fsutil import fsync_dir

if TYPE_CHECKING:
    from daemon.config import Settings
    from daemon.store.engine import Database

# SQLAlchemy, pydantic, structlog and the package's own modules are imported by the functions
# that use them: a module of the command line is imported by every command, `--help` included.

RootOpt = Annotated[
    Path | None, typer.Option("--root", help="The watched tree (default: INBOXD_ROOT or cwd).")
]
DbOpt = Annotated[
    str | None, typer.Option("--database", help="SQLAlchemy URL (default: <root>/var/inboxd.db).")
]
NO_DATABASE_HINT = (
    "run 'inboxd init' first (a root whose database is PostgreSQL needs --database or "
    "INBOXD_DATABASE_URL)"
)


def command_settings(root: Path | None, database: str | None, **more: Any) -> Settings:
    """The settings, with logging to the root's log file (which creates ``var/log/``)."""
    from daemon.config import load_settings

    settings = load_settings(root=root, database_url=database, **more)
    log_to(settings)
    return settings


def log_to(settings: Settings) -> None:
    from daemon.logging import configure_logging

    configure_logging(
        settings.log_file,
        level=settings.log_level,
        journal_stream=os.environ.get("JOURNAL_STREAM"),
        debug=debugging(),  # --debug: alembic's own lines too
    )


def existing_root(root: Path | None, database: str | None) -> Settings:
    """The settings of a root that exists (no folder made, logging not set up yet)."""
    from daemon.config import load_settings

    settings = load_settings(root=root, database_url=database)
    if not settings.root_path.is_dir():
        raise UsageError(
            f"no folder at {settings.root_path} (the root); check --root or INBOXD_ROOT, "
            f"or create it with 'inboxd init --root {settings.root_path}'"
        )
    return settings


def start_stream_worker(settings: Settings, paths: list[Path]) -> None:
    """With a file large enough to stream, the second process that reads it starts now: it
    loads its modules while this one loads the database's (docs/performance.md)."""
    if not settings.stream_worker:
        return
    sizes = [path.stat().st_size for path in paths if path.is_file()]
    if any(size >= settings.stream_min_bytes for size in sizes):
        from daemon.ingest import stream_worker

        stream_worker.shared().start()


def open_database(settings: Settings) -> Database:
    """The settings' database. A driver that is not installed, or a server that refuses
    the connection, is said here, with the URL (without its password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from daemon.store.engine import Database

    shown = make_url(settings.url).render_as_string(hide_password=True)
    try:
        db = Database.for_settings(settings)
    except ImportError as exc:
        raise UsageError(
            f"the database driver {exc.name or ''} for {shown} is not installed; "
            "PostgreSQL URLs start postgresql+psycopg://"
        ) from exc
    if db.engine.dialect.name == "sqlite":
        return db  # a file: a failure to open it says which (the folder is made by init)
    try:
        with db.engine.connect():
            pass
    except DBAPIError as exc:
        reason = one_line(str(exc.orig)).removeprefix("connection failed: ")
        raise InboxdError(
            f"cannot connect to the database {shown}: {reason}; check the URL (user, password, "
            "host, database) and that the server is running"
        ) from exc
    return db


def existing_database(settings: Settings) -> Database:
    """The database of a read-only command: it must exist and hold inboxd's schema. Then
    logging is set up (``var/log/``), and an older schema is brought to head, as every
    command does."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from daemon.store import migrate
    from daemon.store.revisions import VERSION_TABLE

    url = make_url(settings.url)
    path = sqlite_file(settings)
    if path is not None and not path.is_file():
        raise UsageError(f"no database at {path}; {NO_DATABASE_HINT}")
    db = open_database(settings)
    with db.engine.connect() as connection:
        has_schema = inspect(connection).has_table(VERSION_TABLE)
    if not has_schema:
        shown = url.render_as_string(hide_password=True)
        raise UsageError(f"the database {shown} holds no inboxd schema; {NO_DATABASE_HINT}")
    log_to(settings)
    migrate.upgrade(db)
    return db


def sqlite_file(settings: Settings) -> Path | None:
    """The settings' database when it is a SQLite file; None for PostgreSQL or in memory.
    The default one is known without parsing a URL (no SQLAlchemy: ``inboxd status``)."""
    if settings.database_url is None:
        return settings.default_database
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database))
    return None


def known_agent(settings: Settings, agent: str) -> str:
    """``agent`` when it is configured."""
    if agent not in settings.agents:
        raise UsageError(
            f"unknown agent {agent!r}; the agents are {', '.join(settings.agents)} "
            "(setting 'agents' in inboxd.toml or INBOXD_AGENTS)"
        )
    return agent


def existing_files(paths: list[Path]) -> list[Path]:
    """The named files, absolute (a link stays a link, to be refused as the daemon does);
    a name that is not there is an error, not a file that vanished."""
    missing = [str(path) for path in paths if not os.path.lexists(path)]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    return [path.absolute().parent.resolve() / path.name for path in paths]


@dataclass(frozen=True)
class Intake:
    """A named file to process: where it is, and where it goes when it comes from outside."""

    path: Path
    copy_to: Path | None = None  # outbox/<agent>/<name>, for a file from outside the tree


def intake(settings: Settings, path: Path, agent: str | None, *, dry_run: bool) -> Intake:
    """How ``inboxd process`` takes a file: from an agent's folder as it is; from outside
    the tree only with ``--agent``, copied into that agent's outbox first."""
    placed = _agent_of(settings, path)
    if placed is not None:
        if agent is not None and placed != agent:
            raise UsageError(
                f"{path} is in agent {placed!r}'s folder, not {agent!r}'s; drop --agent"
            )
        return Intake(path)
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    where = (
        f"outside the root {settings.root_path}"
        if not path.is_relative_to(settings.root_path)
        else "not in an agent's folder (inbox/<agent>/ or outbox/<agent>/)"
    )
    if agent is None:
        raise UsageError(
            f"{path} is {where}; give --agent AGENT to import it as that agent's delivery "
            "(copied into outbox/AGENT/), or copy it there yourself"
        )
    target = settings.root_path / "outbox" / agent / path.name
    if dry_run:
        raise UsageError(
            f"{path} is {where}, and --dry-run copies nothing; copy it to {target} and "
            "run --dry-run on the copy"
        )
    if target.exists() and not _same_content(path, target):
        raise UsageError(f"{target} already exists with other content; rename {path} first")
    return Intake(path, target)


def take_in(item: Intake) -> Path:
    """The file to process: the copy in the agent's outbox (written under a dot-name that
    the watcher ignores, then renamed: a running daemon sees it whole), or the file itself."""
    if item.copy_to is None:
        return item.path
    if not item.copy_to.exists():
        item.copy_to.parent.mkdir(parents=True, exist_ok=True)
        tmp = item.copy_to.with_name(f".{item.copy_to.name}.{os.getpid()}.copy")
        shutil.copyfile(item.path, tmp)
        os.replace(tmp, item.copy_to)
        fsync_dir(item.copy_to.parent)
    return item.copy_to


def _agent_of(settings: Settings, path: Path) -> str | None:
    """The agent whose folder holds ``path`` (``<root>/<box>/<agent>/...``), or None."""
    from daemon.ingest.paths import BOXES

    try:
        parts = path.relative_to(settings.root_path).parts
    except ValueError:
        return None
    return parts[1] if len(parts) >= 3 and parts[0] in BOXES else None


def _same_content(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as left, b.open("rb") as right:
        while True:
            chunk = left.read(1 << 20)
            if chunk != right.read(1 << 20):
                return False
            if not chunk:
                return True
