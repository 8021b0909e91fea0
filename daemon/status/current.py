"""Status files that are still current, shown as they are: ``inboxd status`` without SQLAlchemy.

Each ``status.json`` the writer makes on SQLite records what its view was counted from
(``counted``): the schema revision and, read in one statement before the view, the ledger's
last id, row count and last time, the pairs' last id, count and last question key, and the
few small counts a view shows (indicators, plans, claims, signals, marked rows, records
waiting); with a digest of the database URL, the settings a view depends on and the code that
builds it. ``inboxd status`` reads the same statement with the standard library's sqlite3,
read-only, and when every file it would show records exactly that, it shows the files (with
the time of asking, and the newest dataset snapshot looked up again) instead of building
the same views through SQLAlchemy, whose import alone is most of the command's time
(docs/performance.md, "Status at a million pairs").

Anything else reads the database as before: PostgreSQL, a file missing, torn or written
before the last change, another database, settings or code, a file listing waiting
deliveries (only the daemon knows them) or a ``waiting`` notice, a schema not at head.

Nothing here imports SQLAlchemy, and the view modules import their time stamp and snapshot
line from here (``tests/daemon/test_cli_imports.py``).
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from daemon.store.revisions import VERSION_TABLE, script_head

if TYPE_CHECKING:
    from daemon.config import Settings

COUNTED_KEY = "counted"
STATUS_JSON = "status.json"
# What a view is counted from, in one statement (one point in time): the writer runs it
# before the view's own reads, so a change committed in between makes the files look old,
# never current. Each figure is an index's end or a small table; the pairs' count is the
# whole table's (a pair deleted behind inboxd's back), ~2 ms at 1,000,000 pairs.
COUNTED_SQL = f"""SELECT
 (SELECT group_concat(version_num) FROM {VERSION_TABLE}) AS schema,
 (SELECT max(id) FROM files) AS files_upto,
 (SELECT count(*) FROM files) AS files,
 (SELECT processed_at FROM files ORDER BY id DESC LIMIT 1) AS last_file_at,
 (SELECT max(qa_id) FROM qa_pairs) AS pairs_upto,
 (SELECT count(*) FROM qa_pairs) AS pairs,
 (SELECT question_key FROM qa_pairs ORDER BY qa_id DESC LIMIT 1) AS last_pair_key,
 (SELECT count(*) FROM qa_pairs WHERE key_conflict = 1) AS key_conflicts,
 (SELECT count(*) FROM crypto_indicators) AS indicators,
 (SELECT count(*) FROM sessions) AS sessions,
 (SELECT count(*) FROM session_indicators) AS session_indicators,
 (SELECT max(id) FROM progress_claims) AS claims_upto,
 (SELECT max(id) FROM signals) AS signals_upto,
 (SELECT count(*) FROM refinement_pending) AS records_waiting"""
# the settings an agent's view reads (daemon/status/view.py); the root and the agents
# decide which files are read, the dataset folder is looked up again when shown
VIEW_SETTINGS = ("orchestrator", "refiner", "recent_files_in_status")
# the code that shapes a view: a file from another version of inboxd is not shown as current
VIEW_CODE = ("view.py", "coverage.py", "tally.py", "current.py")


def stamp(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as the status files show it."""
    return f"{value.isoformat(timespec='seconds')}Z" if value is not None else None


def now_stamp() -> str | None:
    """Now, as a view's ``updated_at``."""
    return stamp(datetime.now(UTC).replace(tzinfo=None))


def last_snapshot(settings: Settings) -> dict[str, Any] | None:
    """The dataset snapshot written last (``inboxd dataset``; at batch close with
    ``snapshot_on_close``), for the orchestrator's status."""
    if not settings.dataset_dir.is_dir():
        return None  # none yet, and the manifest's model not built (~10 ms of a status)
    from daemon.dataset.manifest import latest_snapshot

    manifest = latest_snapshot(settings.dataset_dir)
    if manifest is None:
        return None
    return {
        "name": manifest.name,
        "pairs": manifest.pairs,
        "parent": manifest.parent,
        "at": stamp(manifest.created_at),
        "path": (settings.datasets_dir / manifest.name).as_posix(),
    }


@cache
def _code_digest() -> str:
    digest = hashlib.sha256()
    for name in VIEW_CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def _made_by(settings: Settings) -> str:
    """Which database, settings and code a view comes from, as one short digest (the URL
    may hold a password: only its digest is written)."""
    given = [settings.url, _code_digest(), *(getattr(settings, name) for name in VIEW_SETTINGS)]
    return hashlib.sha256(orjson.dumps(given)).hexdigest()[:16]


def counted_record(settings: Settings, names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    """What a view was counted from, as ``status.json`` records it: ``COUNTED_SQL``'s
    columns (``names``) and values, and where they come from."""
    return {**dict(zip(names, values, strict=True)), "made_by": _made_by(settings)}


def counted_now(settings: Settings, database: Path) -> dict[str, Any] | None:
    """``counted_record`` for the SQLite file ``database`` as it is now, read-only; None when
    its schema is not the code's head (the full path brings it there) or it cannot be read."""
    if not database.is_file():
        return None
    try:
        connection = sqlite3.connect(f"file:{quote(str(database))}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        cursor = connection.execute(COUNTED_SQL)
        values = cursor.fetchone()
        names = [column[0] for column in cursor.description]
    except sqlite3.Error:  # not inboxd's schema, or unreadable: the full path says why
        return None
    finally:
        connection.close()
    if values[0] != script_head():
        return None
    return counted_record(settings, names, values)


def current_views(
    settings: Settings, agents: list[str], database: Path
) -> dict[str, dict[str, Any]] | None:
    """The views in these agents' ``status.json`` when all are current, as ``agent_view``
    would build them now; None when any is not (then the database is read)."""
    now = counted_now(settings, database)
    if now is None:
        return None
    views: dict[str, dict[str, Any]] = {}
    for agent in agents:
        try:
            view = orjson.loads((settings.root_path / "inbox" / agent / STATUS_JSON).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if not isinstance(view, dict) or view.pop(COUNTED_KEY, None) != now:
            return None
        if "waiting" in view or view.get("waiting_files"):  # the daemon's own knowledge
            return None
        view["updated_at"] = now_stamp()
        if "datasets" in view:
            view["datasets"] = last_snapshot(settings)
        views[agent] = view
    return views
