"""``inboxd doctor``: check what the daemon needs before it runs, and say how to fix it.

Each check looks at the thing itself (creates a file to learn whether the root is writable,
connects to the database and writes a row it rolls back, reads the kernel's watch limit)
rather than guessing from permission bits or settings. Nothing is created or changed, except
a probe file that is removed at once. ``deep`` adds the engine's own integrity checks, which
read the whole database.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import typer
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from daemon.config import Settings
from daemon.ingest.paths import BOXES
from daemon.store import health, migrate
from daemon.store.engine import Database
from daemon.store.revisions import MIGRATIONS_DIR

Status = Literal["ok", "warn", "fail", "skip"]

INOTIFY_MAX_USER_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")
MIN_FREE_BYTES = 1024**3  # under 1 GB free: warn (the archive is never pruned)
SUGGESTED_WATCHES = 524288


@dataclass(frozen=True)
class Finding:
    """One check's verdict, what it saw, and what to do about it."""

    check: str
    status: Status
    detail: str
    advice: str | None = None


def run_checks(
    settings: Settings,
    *,
    deep: bool = False,
    watches_path: Path | None = None,
    min_free_bytes: int = MIN_FREE_BYTES,
) -> list[Finding]:
    """Every check, in the order a person would fix them; ``deep`` adds the integrity and
    constraints checks.

    ``watches_path`` (default ``INOTIFY_MAX_USER_WATCHES``) lets a test set the kernel limit.
    """
    watches_path = watches_path or INOTIFY_MAX_USER_WATCHES
    findings = [check_root(settings)]
    root_ok = findings[0].status == "ok"
    findings.append(check_folders(settings) if root_ok else _skipped("folders"))
    findings += _database_checks(settings, deep=deep)
    findings.append(check_watches(settings, watches_path) if root_ok else _skipped("inotify"))
    findings.append(check_disk(settings, min_free_bytes))
    return findings


def failed(findings: list[Finding]) -> bool:
    return any(f.status == "fail" for f in findings)


def _skipped(check: str) -> Finding:
    return Finding(check, "skip", "not checked: fix the failure above first")


def _init_hint(settings: Settings) -> str:
    return f"inboxd init --root {settings.root_path}"


# -- the root -----------------------------------------------------------------------------
def check_root(settings: Settings) -> Finding:
    """The root exists, is a directory, and inboxd can create files in it (and in var/)."""
    root = settings.root_path
    if not root.exists():
        missing = next((p for p in reversed(root.parents) if not p.exists()), root)
        gone = "" if missing == root else f" (its parent {missing} is missing too)"
        return Finding(
            "root",
            "fail",
            f"{root} does not exist{gone}",
            f"`{_init_hint(settings)}` creates it; or point --root / INBOXD_ROOT "
            "at the folder the agents use",
        )
    if not root.is_dir():
        return Finding(
            "root",
            "fail",
            f"{root} is not a directory",
            "set --root / INBOXD_ROOT to a directory (this path is a file)",
        )
    for folder in (root, settings.var_dir):
        if not folder.exists():
            continue
        error = _write_probe(folder)
        if error is not None:
            return Finding(
                "root",
                "fail",
                f"cannot create files in {folder}: {error}",
                f"give the user inboxd runs as write access (chown -R that user "
                f"{root}); under systemd the root must be in ReadWritePaths=",
            )
    return Finding("root", "ok", f"{root} is a writable directory")


def _write_probe(folder: Path) -> str | None:
    """Create and remove a file: the only test that holds for root, ACLs and read-only mounts."""
    try:
        handle, name = tempfile.mkstemp(prefix=".inboxd-doctor-", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(handle)
    os.unlink(name)
    return None


def check_folders(settings: Settings) -> Finding:
    """Each configured agent has inbox/ and outbox/ folders; no unknown agent folders."""
    root = settings.root_path
    missing = [
        f"{box}/{agent}"
        for box in BOXES
        for agent in settings.agents
        if not (root / box / agent).is_dir()
    ]
    unknown = sorted(
        {
            f"{box}/{child.name}"
            for box in BOXES
            if (root / box).is_dir()
            for child in (root / box).iterdir()
            if child.is_dir()
            and not child.name.startswith(".")
            and child.name not in settings.agents
        }
    )
    if not missing and not unknown:
        return Finding("folders", "ok", f"inbox/ and outbox/ for {', '.join(settings.agents)}")
    problems, advice = [], []
    if missing:
        problems.append(f"missing {', '.join(missing)}")
        advice.append(f"`{_init_hint(settings)}` creates them (the daemon does too at start)")
    if unknown:
        problems.append(f"folders for agents not configured: {', '.join(unknown)}")
        advice.append(
            "their files are rejected: add the agent to INBOXD_AGENTS, or remove the folder"
        )
    return Finding("folders", "warn", "; ".join(problems), "; ".join(advice))


# -- the database -------------------------------------------------------------------------
def _sqlite_file(settings: Settings) -> Path | None:
    url = make_url(settings.url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


@contextmanager
def _open(settings: Settings) -> Iterator[Database]:
    db = Database(settings.url, settings.db_busy_timeout)
    try:
        yield db
    finally:
        db.dispose()


def _safe_url(settings: Settings) -> str:
    return make_url(settings.url).render_as_string(hide_password=True)


def check_database(settings: Settings) -> Finding:
    """The database answers a query (an SQLite file must exist: connecting would create it)."""
    path = _sqlite_file(settings)
    if path is not None and not path.exists():
        return Finding(
            "database",
            "fail",
            f"no database at {path}",
            f"`{_init_hint(settings)}` creates it and runs the migrations",
        )
    try:
        with _open(settings) as db, db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver's error: report it, do not crash the doctor
        return Finding(
            "database",
            "fail",
            f"{_safe_url(settings)}: {type(exc).__name__}: {_first_line(exc)}",
            "check --database / INBOXD_DATABASE_URL; a remote database also needs the "
            "network in the unit (AF_INET AF_INET6 in RestrictAddressFamilies=, no "
            "PrivateNetwork=)",
        )
    return Finding("database", "ok", f"{_safe_url(settings)} answers")


def _database_checks(settings: Settings, *, deep: bool) -> list[Finding]:
    """Answers, at head, writable; with ``deep``, intact and constrained. A check that needs
    what an earlier one found missing is skipped."""
    database = check_database(settings)
    answers = database.status == "ok"
    migrations = check_migrations(settings) if answers else _skipped("migrations")
    at_head = migrations.status == "ok"
    findings = [database, migrations, check_writable(settings) if at_head else _skipped("writable")]
    if deep:
        findings.append(check_integrity(settings) if answers else _skipped("integrity"))
        findings.append(check_constraints(settings) if at_head else _skipped("constraints"))
    return findings


def check_migrations(settings: Settings) -> Finding:
    """The schema is at the head revision this inboxd ships."""
    head = migrate.head_revision()
    with _open(settings) as db:
        current = migrate.current_revision(db)
        tables = set(inspect(db.engine).get_table_names())
    if current == head:
        return Finding("migrations", "ok", f"schema at {head} (head)")
    if current is None:
        what = (
            "tables of a legacy database but no alembic version"
            if "qa_pairs" in tables
            else "no alembic version: the schema was never created"
        )
        return Finding(
            "migrations",
            "fail",
            what,
            f"`{_init_hint(settings)} --database URL` runs the migrations (a legacy "
            "database is adopted in place, no row dropped)",
        )
    if not _known_revision(current):
        return Finding(
            "migrations",
            "fail",
            f"schema at {current}, unknown to this inboxd (head {head})",
            "the database was migrated by a newer inboxd: upgrade this one",
        )
    return Finding(
        "migrations",
        "fail",
        f"schema at {current}, head is {head}",
        f"`{_init_hint(settings)}` runs the missing migrations (the system unit's "
        "ExecStartPre= does it at each start)",
    )


def check_writable(settings: Settings) -> Finding:
    """The database accepts a write (rolled back): one that answers reads may refuse writes
    (SQLite opens a file it cannot write read-only; a PostgreSQL role may lack the rights)."""
    with _open(settings) as db:
        refusal = health.write_refusal(db)
    if refusal is None:
        return Finding("writable", "ok", "accepts writes (a probe row, rolled back)")
    path = _sqlite_file(settings)
    if path is not None:
        advice = (
            f"give the user inboxd runs as write access to {path} and to its -wal and -shm "
            f"files (chown, chmod u+w); `lsattr {path}` shows an immutable flag (chattr -i), "
            "`findmnt -T` a read-only mount; under systemd the folder must be in "
            "ReadWritePaths=. A running daemon takes the file again at its next retry"
        )
    else:
        advice = (
            "grant the role INSERT, UPDATE and DELETE on inboxd's tables; a standby server or "
            "default_transaction_read_only refuses every write"
        )
    return Finding("writable", "fail", f"{_safe_url(settings)} refuses writes: {refusal}", advice)


def check_integrity(settings: Settings) -> Finding:
    """SQLite's ``integrity_check`` (damage) and ``foreign_key_check`` (rows pointing at rows
    that do not exist). PostgreSQL checks its pages itself: nothing to run there."""
    if _sqlite_file(settings) is None:
        return Finding(
            "integrity", "skip", "PostgreSQL: the constraints check below is the deep check"
        )
    with _open(settings) as db:
        damage, dangling = health.sqlite_integrity(db)
    if damage:
        more = f" (and {len(damage) - health.SHOWN} more)" if len(damage) > health.SHOWN else ""
        return Finding(
            "integrity",
            "fail",
            "integrity_check: " + "; ".join(damage[: health.SHOWN]) + more,
            "stop the daemon and restore the latest backup (`inboxd restore "
            f"{settings.backup_dir}/<file>`); then `inboxd retry` imports what came after it",
        )
    if dangling:
        rows = sum(dangling.values())
        where = ", ".join(sorted(dangling))
        return Finding(
            "integrity",
            "warn",
            f"integrity_check ok; {rows} row{'s' * (rows != 1)} referring to a missing row: "
            f"{where}",
            "rows adopted from a legacy database may point at rows it never had; the daemon "
            "works regardless. `sqlite3 <file> 'PRAGMA foreign_key_check'` lists them",
        )
    return Finding("integrity", "ok", "integrity_check and foreign_key_check found nothing")


def check_constraints(settings: Settings) -> Finding:
    """The unique indexes and constraints inboxd relies on not to store anything twice."""
    with _open(settings) as db:
        problems = health.missing_constraints(db)
    if not problems:
        return Finding("constraints", "ok", "every unique index and constraint in place")
    more = f" (and {len(problems) - health.SHOWN} more)" if len(problems) > health.SHOWN else ""
    return Finding(
        "constraints",
        "fail",
        "; ".join(problems[: health.SHOWN]) + more,
        "stop the daemons: without it a question or a file can be stored twice. Recreate it "
        "as daemon/store/models.py declares it (a PostgreSQL index left invalid: DROP INDEX, "
        "then CREATE it again), after removing any duplicate stored meanwhile",
    )


def _known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision) is not None
    except CommandError:
        return False


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


# -- the kernel and the disk --------------------------------------------------------------
def watched_folders(settings: Settings) -> int:
    """inotify needs one watch per folder under inbox/ and outbox/ (the observer is recursive)."""
    return sum(
        1
        for box in BOXES  # os.walk does not follow symlinks, nor does the observer
        for _ in os.walk(settings.root_path / box)
    )


def check_watches(settings: Settings, watches_path: Path) -> Finding:
    """Enough inotify watches for every folder (the limit is per user, shared by processes)."""
    if settings.polling:
        return Finding("inotify", "ok", "polling is on: no inotify watches needed")
    try:
        limit = int(watches_path.read_text().strip())
    except (OSError, ValueError):
        return Finding(
            "inotify",
            "skip",
            f"cannot read {watches_path} (not Linux?)",
            "without inotify, set polling = true (INBOXD_POLLING=true)",
        )
    needed = watched_folders(settings)
    raise_it = (
        f"sudo sysctl fs.inotify.max_user_watches={SUGGESTED_WATCHES}, and to keep it: "
        f"echo fs.inotify.max_user_watches={SUGGESTED_WATCHES} | "
        "sudo tee /etc/sysctl.d/60-inboxd.conf; or set INBOXD_POLLING=true"
    )
    if needed >= limit:
        return Finding(
            "inotify", "fail", f"{needed} folders to watch, max_user_watches is {limit}", raise_it
        )
    if needed * 2 > limit:
        return Finding(
            "inotify",
            "warn",
            f"{needed} folders to watch of max_user_watches {limit}, which every "
            "process of the same user shares",
            raise_it,
        )
    return Finding("inotify", "ok", f"{needed} folders to watch, max_user_watches {limit}")


def check_disk(settings: Settings, min_free_bytes: int) -> Finding:
    """Free space where the database, archive and logs grow (each filesystem once)."""
    places = [_existing(settings.root_path)]
    sqlite = _sqlite_file(settings)
    if sqlite is not None:
        places.append(_existing(sqlite))
    by_device = {place.stat().st_dev: place for place in reversed(places)}  # root's wins
    report, low = [], False
    for place in by_device.values():
        free = shutil.disk_usage(place).free
        report.append(f"{_size(free)} free at {place}")
        low = low or free < min_free_bytes
    if low:
        return Finding(
            "disk",
            "warn",
            "; ".join(report) + f" (under {_size(min_free_bytes)})",
            "free some space: the database, var/archive/ (never pruned), "
            "var/backups/ and var/log/ live there",
        )
    return Finding("disk", "ok", "; ".join(report))


def _existing(path: Path) -> Path:
    """The path, or its nearest ancestor that exists (the filesystem it will be on)."""
    return next(p for p in (path, *path.parents) if p.exists())


def _size(count: int) -> str:
    if count >= 1024**3:
        return f"{count / 1024**3:.1f} GB"
    return f"{count / 1024**2:.1f} MB"


def render(findings: list[Finding], *, colour: bool = False) -> str:
    """One line per check, its advice indented below when there is something to do."""
    labels = {
        "ok": ("OK", "green"),
        "warn": ("WARN", "yellow"),
        "fail": ("FAIL", "red"),
        "skip": ("SKIP", "bright_black"),
    }
    lines = []
    for finding in findings:
        label, fg = labels[finding.status]
        tag = f"{label:<5}"
        if colour:
            tag = typer.style(tag, fg=fg, bold=finding.status == "fail")
        lines.append(f"{tag} {finding.check:<11} {finding.detail}")
        if finding.advice and finding.status != "ok":
            lines.append(f"{'':5} {'':11} fix: {finding.advice}")
    return "\n".join(lines)
