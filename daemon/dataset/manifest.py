"""``manifest.json``: what a snapshot holds, how it was cut, and each file's SHA-256.

Written last, inside the temporary folder, just before the folder is renamed into place: a
snapshot folder with a manifest is complete. ``dataset verify`` recomputes every hash.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer, field_validator

from daemon.errors import InboxdError

MANIFEST_FILE = "manifest.json"
CARD_FILE = "DATASET.md"
MANIFEST_VERSION = 1
_HASH_BLOCK = 1 << 20


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: int | None  # None: not a file of rows (the card)
    bytes: int
    sha256: str


class Manifest(BaseModel):
    """Everything ``dataset list``, ``verify``, ``diff`` and the next snapshot need."""

    model_config = ConfigDict(extra="forbid")

    manifest_version: int = MANIFEST_VERSION
    name: str
    created_at: datetime  # UTC (naive in memory, as every stored time; "Z" in the file)
    inboxd_version: str
    schema_revision: str | None
    database: str  # the engine's name (sqlite, postgresql): never its address
    formats: list[str]
    filters: dict[str, Any]
    split: dict[str, float] | None
    parent: str | None  # an incremental snapshot's parent
    pairs: int  # rows in the data files
    pairs_in_state: int  # pairs the snapshot stands for (with its parent's, when incremental)
    removed: int  # pairs in the parent that are gone (incremental only)
    files: dict[str, FileEntry]
    totals: dict[str, dict[str, int]]
    quality: dict[str, int]

    @field_validator("created_at")
    @classmethod
    def _naive_utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)

    @field_serializer("created_at")
    def _with_zone(self, value: datetime) -> str:
        return value.isoformat() + "Z"


class ManifestError(InboxdError):
    """A snapshot's manifest is missing or unreadable."""


def file_entry(path: Path, rows: int | None) -> FileEntry:
    """A finished file's size and SHA-256, read in blocks (never whole)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return FileEntry(rows=rows, bytes=path.stat().st_size, sha256=digest.hexdigest())


def write_manifest(folder: Path, manifest: Manifest) -> None:
    path = folder / MANIFEST_FILE
    path.write_bytes(orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_FILE
    try:
        return Manifest.model_validate(orjson.loads(path.read_bytes()))
    except FileNotFoundError:
        raise ManifestError(
            f"{path}: no manifest; this folder is not a complete snapshot"
        ) from None
    except (orjson.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise ManifestError(f"{path}: not a snapshot manifest ({first})") from None


@dataclass(frozen=True)
class Listed:
    name: str
    manifest: Manifest | None
    problem: str | None = None


def list_snapshots(folder: Path) -> list[Listed]:
    """Every snapshot folder, oldest first; a folder without a readable manifest says why."""
    found: list[Listed] = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        try:
            found.append(Listed(entry.name, read_manifest(entry)))
        except ManifestError as exc:
            found.append(Listed(entry.name, None, str(exc)))
    epoch = datetime.min
    return sorted(found, key=lambda s: (s.manifest.created_at if s.manifest else epoch, s.name))


def latest_snapshot(folder: Path) -> Manifest | None:
    """The snapshot written last (by its folder's time: one manifest read, not all)."""
    newest: tuple[int, Path] | None = None
    for entry in os.scandir(folder) if folder.is_dir() else []:
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        mtime = entry.stat().st_mtime_ns
        if newest is None or mtime > newest[0]:
            newest = (mtime, Path(entry.path))
    if newest is None:
        return None
    try:
        return read_manifest(newest[1])
    except ManifestError:
        return None
