"""Writing a snapshot, listing them, verifying one.

A snapshot is written into a hidden temporary folder beside its final place
(``.NAME.partial-<host>-<pid>``) and renamed into place last, after every file and the
manifest are on disk: a folder named after a snapshot is complete, whatever happened while it
was written (a kill -9, a full disk). A failed snapshot removes its temporary folder; one left
by a killed process is removed by the next snapshot on the same host.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from daemon import __version__
from daemon.config import Settings, plain_folder_name
from daemon.dataset import compare
from daemon.dataset.card import render_card
from daemon.dataset.extras import KEYS_FILE, KeysIndex, RagRecords, ReviewList, Totals
from daemon.dataset.filters import Filters, Split
from daemon.dataset.formats import DATA_FORMATS, Writer, Written, data_writer
from daemon.dataset.manifest import (
    CARD_FILE,
    MANIFEST_FILE,
    FileEntry,
    Manifest,
    file_entry,
    read_manifest,
    write_manifest,
)
from daemon.dataset.rows import chunks, data_schema, statement
from daemon.errors import InboxdError, UsageError
from daemon.fsutil import fsync_dir
from daemon.logging import get_logger
from daemon.status.coverage import Gaps, gaps, session_coverage

log = get_logger("inboxd.dataset")

Progress = Callable[[int, int], None]  # (pairs read, pairs in all)
_PARTIAL = ".partial-"


class DatasetError(InboxdError):
    """A snapshot could not be written or read; the message says what to do."""


class EmptySnapshot(DatasetError):
    """The filters take no pair (or nothing changed since the parent)."""


@dataclass(frozen=True)
class Request:
    """What ``dataset snapshot`` was asked for."""

    name: str
    formats: tuple[str, ...]
    filters: Filters
    split: Split | None = None
    parent: str | None = None
    allow_empty: bool = False


def snapshot_folder(settings: Settings, name: str) -> Path:
    """Where snapshot ``name`` is, refusing a name that is not a plain folder name."""
    try:
        plain_folder_name(name)
    except ValueError as exc:
        raise UsageError(f"snapshot name {exc}") from None
    return settings.dataset_dir / name


def _partial_name(name: str) -> str:
    return f".{name}{_PARTIAL}{socket.gethostname()}-{os.getpid()}"


def remove_stale_partials(folder: Path) -> list[str]:
    """Remove the temporary folders of snapshots whose process (on this host) is gone."""
    removed: list[str] = []
    host = socket.gethostname()
    for entry in folder.glob(f".*{_PARTIAL}{host}-*") if folder.is_dir() else []:
        pid = entry.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _disk_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (
        "No space left on device" in str(exc)
    )


class _Writers:
    """Every file a snapshot writes from the stream, fed chunk by chunk: ``whole`` is given
    every pair, ``changed`` only an incremental snapshot's added or changed ones."""

    def __init__(
        self,
        folder: Path,
        request: Request,
        settings: Settings,
        parent: compare.ParentState | None,
    ) -> None:
        schema = data_schema(request.split)
        self.totals = Totals()
        data: list[Writer] = [
            data_writer(fmt, folder, schema, request.split)
            for fmt in DATA_FORMATS
            if fmt in request.formats
        ]
        rag: list[Writer] = (
            [RagRecords(folder, parent.is_new if parent else None)]
            if "rag" in request.formats
            else []
        )
        review = ReviewList(folder, settings.review_min_score, settings.review_tier_below)
        keys = KeysIndex(folder)
        self.in_order: list[Writer] = [*data, *rag, review, keys]  # as the manifest lists them
        self.whole: list[Writer] = [*rag, keys]
        self.changed: list[Writer] = [*data, review]

    def close(self) -> list[Written]:
        return [written for writer in self.in_order for written in writer.close()]

    def abort(self) -> None:
        for writer in self.in_order:
            try:
                writer.abort()
            except Exception:  # already closed, or failed itself: the folder goes anyway
                continue


def _pair_count(connection: Connection, filters: Filters) -> int:
    """How many pairs the snapshot's own query takes (for the progress bar)."""
    taken = statement(filters).order_by(None).subquery()
    return connection.execute(select(func.count()).select_from(taken)).scalar_one()


def _stream(
    connection: Connection,
    request: Request,
    writers: _Writers,
    parent: compare.ParentState | None,
    progress: Progress | None,
) -> int:
    """Every pair the filters take through the writers; the number of pairs read."""
    total = _pair_count(connection, request.filters) if progress else 0
    read = 0
    for chunk in chunks(connection, request.filters, request.split):
        for writer in writers.whole:
            writer.write(chunk)
        read += len(chunk)
        if parent is not None:
            chunk = chunk.only([i for i, fp in enumerate(chunk.fingerprints) if parent.is_new(fp)])
        for writer in writers.changed:
            writer.write(chunk)
        writers.totals.write(chunk)
        if progress:
            progress(read, total)
    return read


def _known_gaps(connection: Connection) -> Gaps | None:
    coverage = session_coverage(Session(bind=connection))
    return gaps(coverage) if coverage else None


def _schema_revision(connection: Connection) -> str | None:
    try:
        return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except Exception:  # an adopted database before its first upgrade has no such table
        return None


def _read_only(folder: Path) -> None:
    """Files a snapshot wrote are not to be changed: ``verify`` would say so anyway."""
    for path in folder.iterdir():
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


def _parent(settings: Settings, request: Request) -> compare.ParentState | None:
    if request.parent is None:
        return None
    folder = snapshot_folder(settings, request.parent)
    if not folder.is_dir():
        raise UsageError(
            f"--since-snapshot {request.parent}: no such snapshot in {settings.datasets_dir} "
            "(see 'inboxd dataset list')"
        )
    read_manifest(folder)  # complete, or refused with why
    return compare.ParentState.load(folder)


def take_snapshot(
    settings: Settings,
    engine: Engine,
    request: Request,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> Manifest:
    """Write snapshot ``request.name`` and return its manifest (see the module docstring)."""
    final = snapshot_folder(settings, request.name)
    if final.exists():
        raise UsageError(
            f"a snapshot named {request.name} exists already "
            f"({settings.datasets_dir / request.name}); snapshots are never changed: "
            "pick another name"
        )
    parent = _parent(settings, request)
    settings.dataset_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(settings.dataset_dir)
    temp = settings.dataset_dir / _partial_name(request.name)
    temp.mkdir()
    try:
        manifest = _write(
            settings, engine, request, temp, parent, now or datetime.now(UTC), progress
        )
        os.rename(temp, final)
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if _disk_full(exc):
            raise DatasetError(
                f"no space left on the disk of {settings.datasets_dir} while writing snapshot "
                f"{request.name}; the partial snapshot was removed. Free some space (or mount "
                "a larger disk there) and run it again"
            ) from exc
        if isinstance(exc, OSError) and exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise UsageError(
                f"a snapshot named {request.name} was written meanwhile by another process; "
                "pick another name"
            ) from exc
        raise
    fsync_dir(settings.dataset_dir)
    log.info(
        "dataset.snapshot",
        name=request.name,
        pairs=manifest.pairs,
        parent=manifest.parent,
        formats=manifest.formats,
        path=final.relative_to(settings.root_path).as_posix(),
    )
    return manifest


def _write(
    settings: Settings,
    engine: Engine,
    request: Request,
    temp: Path,
    parent: compare.ParentState | None,
    now: datetime,
    progress: Progress | None,
) -> Manifest:
    writers = _Writers(temp, request, settings, parent)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":  # every read sees one moment
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                read = _stream(connection, request, writers, parent, progress)
                known_gaps = _known_gaps(connection)
                revision = _schema_revision(connection)
                dialect = connection.dialect.name
        written = writers.close()
    except BaseException:
        writers.abort()
        raise
    if parent is not None:
        written.append(compare.write_removed(parent.keys, temp / KEYS_FILE, temp))
    removed = next((w.rows for w in written if w.name == compare.REMOVED_FILE), 0)
    if writers.totals.pairs == 0 and removed == 0 and not request.allow_empty:
        what = (
            f"nothing changed since {request.parent}"
            if request.parent
            else "no pair matches the filters"
        )
        raise EmptySnapshot(
            f"snapshot {request.name}: {what}; nothing was written "
            "(--allow-empty writes an empty snapshot)"
        )
    manifest = Manifest(
        name=request.name,
        created_at=now.astimezone(UTC).replace(tzinfo=None),
        inboxd_version=__version__,
        schema_revision=revision,
        database=dialect,
        formats=[f for f in (*DATA_FORMATS, "rag") if f in request.formats],
        filters=request.filters.described(),
        split=request.split.described() if request.split else None,
        parent=request.parent,
        pairs=writers.totals.pairs,
        pairs_in_state=read,
        removed=removed,
        files={w.name: file_entry(temp / w.name, w.rows) for w in written},
        totals=writers.totals.as_dict(),
        quality=writers.totals.quality_histogram(),
    )
    folder = (settings.datasets_dir / request.name).as_posix()
    card = temp / CARD_FILE
    card.write_text(render_card(manifest, known_gaps, folder), encoding="utf-8")
    manifest.files[CARD_FILE] = file_entry(card, None)
    write_manifest(temp, manifest)  # last: a folder with a manifest is complete
    _read_only(temp)
    return manifest


def open_snapshot(settings: Settings, name: str) -> tuple[Path, Manifest]:
    """A complete snapshot's folder and manifest, or a clear error."""
    folder = snapshot_folder(settings, name)
    if not folder.is_dir():
        raise UsageError(
            f"no snapshot named {name} in {settings.datasets_dir} (see 'inboxd dataset list')"
        )
    return folder, read_manifest(folder)


def verify(settings: Settings, name: str) -> list[str]:
    """Every difference between the snapshot's files and its manifest (none: intact)."""
    folder, manifest = open_snapshot(settings, name)
    problems: list[str] = []
    for file_name, entry in manifest.files.items():
        path = folder / file_name
        if not path.is_file():
            problems.append(f"{file_name}: missing")
            continue
        found: FileEntry = file_entry(path, entry.rows)
        if found.sha256 != entry.sha256:
            problems.append(
                f"{file_name}: changed (SHA-256 {found.sha256[:12]}…, the manifest has "
                f"{entry.sha256[:12]}…; {found.bytes:,} bytes, was {entry.bytes:,})"
            )
    listed = {*manifest.files, MANIFEST_FILE}
    problems += [
        f"{p.name}: not in the manifest" for p in sorted(folder.iterdir()) if p.name not in listed
    ]
    return problems
