"""Which files belong to inboxd: the tree layout and the never-picked-up rules.

Shared by the watcher (to drop events early), the pipeline (to decide for real) and the
catch-up scan. The rules work on strings: the scan applies them to every file of the tree at
each start, where building ``Path`` objects and resolving the root per file cost seconds.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from daemon.config import STATUS_FILE_NAMES, Settings
from handlers.base import Box

BOXES: tuple[Box, ...] = ("inbox", "outbox")
# Files inboxd itself writes into an agent's inbox: never read back as deliveries.
OWN_INBOX_PATTERNS = (*STATUS_FILE_NAMES, "refinement-batch-*.jsonl")
SIGNAL_PREFIX = "ALL_SESSIONS_COMPLETE"  # a completion signal's name, in any case

NameMatcher = Callable[[str], object]


@dataclass(frozen=True)
class Location:
    """A delivery's place: ``<root>/<box>/<agent>/<rel_path>``."""

    path: Path  # the real path, to open
    box: Box
    agent: str
    rel_path: PurePosixPath  # inside the agent's box folder

    @property
    def rel_root(self) -> str:
        return f"{self.box}/{self.agent}/{self.rel_path.as_posix()}"


@dataclass(frozen=True)
class Ignored:
    """Not a delivery; ``quiet`` ones (temp files, our own files) are not even logged."""

    reason: str
    quiet: bool = True


def locate(settings: Settings, path: Path) -> Location | Ignored:
    """Where a path sits in the tree, or why it is not a delivery. Does not read the file."""
    root = settings.root_path
    absolute = path if path.is_absolute() else root / path
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        return Ignored(f"{path}: outside the root {root}", quiet=False)
    parts = tuple(printable(part) for part in relative.parts)
    if len(parts) < 3 or parts[0] not in BOXES:
        return Ignored(f"{relative}: not inside inbox/<agent>/ or outbox/<agent>/")
    box: Box = "inbox" if parts[0] == "inbox" else "outbox"
    why = _refusal(box, parts[1:], name_matcher(settings.ignore_patterns))
    if why is not None:
        return Ignored(f"{relative}: {why}")
    return Location(path=absolute, box=box, agent=parts[1], rel_path=PurePosixPath(*parts[2:]))


def _refusal(box: Box, parts: tuple[str, ...], ignored: NameMatcher) -> str | None:
    """Why ``<box>/<parts...>`` (printable names, agent first) is never picked up, or None."""
    if any(part.startswith(".") for part in parts):
        return "dot-file"
    return _name_refusal(box, parts[-1], ignored)


def _name_refusal(box: Box, name: str, ignored: NameMatcher) -> str | None:
    """``_refusal`` for the file's own (printable) name, its folders being known to pass."""
    if name.startswith("."):
        return "dot-file"
    if ignored(name):
        return "temporary or ignored name"
    if box == "inbox" and _own_inbox_file(name):
        return "written by inboxd"
    return None


def name_matcher(patterns: Iterable[str]) -> NameMatcher:
    """One compiled regex for a list of glob patterns (case-sensitive, like ``fnmatchcase``).

    Cached: a scan tests every file name of the tree, one ``fnmatchcase`` per pattern per name
    was a large part of its time.
    """
    return _compiled_matcher(tuple(patterns))


@functools.lru_cache(maxsize=64)
def _compiled_matcher(patterns: tuple[str, ...]) -> NameMatcher:
    if not patterns:
        return _never
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match


def _never(_name: str) -> None:
    return None


_own_inbox_file = name_matcher(OWN_INBOX_PATTERNS)


def printable(name: str) -> str:
    """A name as stored and shown: bytes that are not UTF-8 appear as ``\\xNN``.

    The file itself is always opened by its real path (``Location.path``).
    """
    if name.isascii():  # the common case, and surrogate escapes are never ASCII
        return name
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Candidate(NamedTuple):
    """A file found by ``scan_tree``: what the catch-up scan needs, all strings."""

    path: str  # the real path, to open
    rel_root: str  # the ledger's key, as ``Location.rel_root`` gives it
    # the catch-up order: inbox first (plans before deliveries), completion signals last (a
    # signal speaks of the deliveries already there), the rest by path (as ``Path`` sorts)
    order: tuple[bool, bool, tuple[str, ...]]
    entry: os.DirEntry[str]  # its ``stat(follow_symlinks=False)`` is cached once called


def scan_tree(settings: Settings, root: Path | None = None) -> Iterator[Candidate]:
    """Every candidate delivery below ``<root>/inbox`` and ``<root>/outbox``, unsorted.

    The same files ``locate`` accepts among what ``os.walk`` lists (folder links are neither
    followed nor listed, file links are: the pipeline refuses them; dot-folders are skipped),
    decided on strings only: no ``Path`` per file, no stat (the caller stats what it needs).
    """
    base = str(root if root is not None else settings.root_path)
    ignored = name_matcher(settings.ignore_patterns)
    for box in BOXES:
        for agent_entry in _entries(f"{base}/{box}"):
            if not _is_real_dir(agent_entry) or agent_entry.name.startswith("."):
                continue  # files right in the box are not in an agent's folder
            agent = printable(agent_entry.name)
            yield from _scan_folder(box, agent_entry.path, (agent_entry.name,), (agent,), ignored)


def _scan_folder(
    box: Box, folder: str, real: tuple[str, ...], shown: tuple[str, ...], ignored: NameMatcher
) -> Iterator[Candidate]:
    subfolders = []
    prefix = f"{box}/{'/'.join(shown)}/"  # of the ledger key
    later = box != "inbox"
    for entry in _entries(folder):
        name = entry.name
        if _is_dir(entry):
            if not name.startswith(".") and not entry.is_symlink():
                subfolders.append(entry)
            continue
        shown_name = printable(name)
        if _name_refusal(box, shown_name, ignored) is not None:
            continue
        yield Candidate(
            entry.path,
            prefix + shown_name,
            (later, name.upper().startswith(SIGNAL_PREFIX), (box, *real, name)),
            entry,
        )
    for entry in subfolders:
        yield from _scan_folder(
            box, entry.path, (*real, entry.name), (*shown, printable(entry.name)), ignored
        )


def _entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as listing:
            return list(listing)
    except OSError:  # vanished or unreadable: as os.walk, skip it
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """As ``os.walk`` decides: a link to a folder counts as a folder (and is not entered)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_real_dir(entry: os.DirEntry[str]) -> bool:
    return _is_dir(entry) and not entry.is_symlink()


def escapes_root(settings: Settings, path: Path) -> str | None:
    """Why a path must not be read (a link, or a path resolving outside the root), or None."""
    if path.is_symlink():
        return f"a symbolic link (to {path.readlink()}); links are refused unread"
    try:
        path.resolve().relative_to(settings.root_path)
    except ValueError:
        return f"resolves outside the root ({path.resolve()}); refused unread"
    return None
