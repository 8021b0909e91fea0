"""The schema's head revision, read from the migration scripts' text without alembic or
SQLAlchemy: ``migrate`` asks it before deciding to import alembic, and ``inboxd status``
before showing the status files without opening the database through SQLAlchemy."""

from __future__ import annotations

import re
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # alembic's default, which env.py keeps
# ``revision = "0004"`` / ``down_revision = "0003"`` (or None), as script.py.mako writes them
_REVISION_LINE = re.compile(
    r"""^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(?:(["'])([^"'\n]+)\2|(None))\s*$""",
    re.MULTILINE,
)


def script_head() -> str | None:
    """The head revision read from the migration scripts' text, without importing alembic.

    None when the scripts are not a simple chain of literal revisions (a merge, a branch, a
    computed value): then alembic decides. A test checks it agrees with alembic's head.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        if script.name.startswith("__init__"):
            continue  # alembic skips it too
        found = {
            name: quoted or none
            for name, _q, quoted, none in _REVISION_LINE.findall(script.read_text(encoding="utf-8"))
        }
        revision, parent = found.get("revision"), found.get("down_revision")
        if revision in (None, "None") or parent is None:
            return None
        revisions.add(revision)
        if parent != "None":
            parents.add(parent)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None
