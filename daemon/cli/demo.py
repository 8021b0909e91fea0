"""``inboxd demo``: a complete example delivery set, written into a tree's folders.

The files ship inside the package (``demo_files/``) because an installed inboxd has no
repository beside it; the tests take their samples from the same folder, so the outcome that
docs/formats.md states for the set is the one the tests check. ``inbox/`` and ``outbox/`` go
to the same places in the tree; ``bad/`` holds one file of each family that must be rejected,
written into droid's outbox beside the good ones.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from daemon.fsutil import write_atomic
from daemon.ingest.paths import SIGNAL_PREFIX

DEMO_FILES = Path(__file__).with_name("demo_files")
BAD_FOLDER = "bad"
BAD_DESTINATION = PurePosixPath("outbox/droid")
# Whom the set is written for: its documented outcome holds for these settings.
AGENTS = ("droid", "claude", "gemini")
REFINER = "gemini"


@dataclass(frozen=True)
class DemoFile:
    """One file of the set: where it ships, and where it goes below the root."""

    source: Path
    target: PurePosixPath


@dataclass(frozen=True)
class Written:
    """What ``write_demo`` did: files written, and files already there with the same bytes."""

    written: list[PurePosixPath]
    unchanged: list[PurePosixPath]


@dataclass(frozen=True)
class Refused:
    """Nothing written: these files exist in the tree with other content (or are no file)."""

    conflicts: list[PurePosixPath]


def demo_set() -> list[DemoFile]:
    """Every file of the set, in the order the catch-up scan takes them.

    Inbox first and completion signals last: a running daemon sees them arrive in that order,
    so it reaches the same outcome as ``inboxd scan`` (a signal speaks of what came before).
    """
    found = []
    for source in DEMO_FILES.rglob("*"):
        if not source.is_file():
            continue
        rel = PurePosixPath(source.relative_to(DEMO_FILES).as_posix())
        target = BAD_DESTINATION / rel.name if rel.parts[0] == BAD_FOLDER else rel
        found.append(DemoFile(source=source, target=target))
    return sorted(found, key=lambda f: _arrival_order(f.target))


def _arrival_order(target: PurePosixPath) -> tuple[bool, bool, tuple[str, ...]]:
    return target.parts[0] != "inbox", target.name.upper().startswith(SIGNAL_PREFIX), target.parts


def write_demo(root: Path) -> Written | Refused:
    """Write the set below ``root``, each file atomically; refuse (writing nothing) when a
    file of the set is already there with other content. The same bytes again are fine."""
    plan = [(f, f.source.read_bytes()) for f in demo_set()]
    same = {f.target for f, data in plan if _holds(root / f.target, data)}
    conflicts = [
        f.target for f, _ in plan if f.target not in same and os.path.lexists(root / f.target)
    ]
    if conflicts:
        return Refused(conflicts)
    written = []
    for demo_file, data in plan:
        if demo_file.target not in same:
            write_atomic(root / demo_file.target, data)
            written.append(demo_file.target)
    return Written(written=written, unchanged=[f.target for f, _ in plan if f.target in same])


def _holds(path: Path, data: bytes) -> bool:
    """``path`` is a plain file (not a link) whose content is ``data``."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def settings_note(agents: list[str], refiner: str) -> str | None:
    """Why the documented outcome will not hold for these settings, or None when it will."""
    absent = [a for a in AGENTS if a not in agents]
    if not absent and refiner == REFINER:
        return None
    return (
        f"note: the demo set is made for agents {', '.join(AGENTS)} with refiner {REFINER}; "
        f"this root has agents {', '.join(agents) or 'none'} and refiner {refiner}, "
        "so its outcome will differ from the documented one"
    )
