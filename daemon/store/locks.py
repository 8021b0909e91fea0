"""Several writers on one database: advisory locks per name, and the key conflict they retry.

On PostgreSQL, daemons on several hosts serialize their writes per indicator through these
locks; on SQLite the single write lock already does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from daemon.errors import TransientError
from daemon.store.engine import read_cache
from daemon.store.models import QUESTION_KEY_INDEX

MAX_NAMED_LOCKS = 64  # per transaction, beyond which one lock stands for the whole namespace
HELD_LOCKS = "advisory_locks"  # in the transaction's read_cache: (key, mode) taken


class KeyConflict(TransientError):
    """Another daemon committed a question this unit of work was storing: run it again.

    The retry reads the other daemon's rows and counts the question as a duplicate.
    """


class BusyElsewhere(TransientError):
    """Another daemon's open transaction is importing this file now: it is left for a moment
    (and then found in the ledger) rather than waited behind."""


def taken_elsewhere(db_session: Session, name: str) -> bool:
    """On PostgreSQL, take this name's transaction lock if it is free; True when another
    daemon holds it. A group of files takes one per file before claiming it, so a second
    daemon on the same folder skips the files the first is importing and takes others, instead
    of waiting behind the first's whole group. SQLite has one writer at a time: never."""
    if db_session.get_bind().dialect.name != "postgresql":
        return False
    taken = db_session.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key("file", name)}
    ).scalar()
    return not taken


def is_question_key_conflict(exc: IntegrityError) -> bool:
    """True when the unique question key, not any other constraint, was violated."""
    diag = getattr(exc.orig, "diag", None)  # psycopg names the constraint
    if diag is not None:
        return getattr(diag, "constraint_name", None) == QUESTION_KEY_INDEX
    return str(exc.orig).startswith("UNIQUE constraint failed: qa_pairs.question_key")


def serialize_on(
    db_session: Session, names: Iterable[str], namespace: str, *, whole: bool = False
) -> None:
    """Hold a transaction lock per name (case-insensitive) until commit, on PostgreSQL.

    Several daemons on one PostgreSQL database take these before reading what they will
    write (indicators, pair numbers), so those reads and writes are serialized per name.
    Every writer also holds the namespace's lock in shared mode; one with more than
    ``MAX_NAMED_LOCKS`` names (a whole-database export) takes that one exclusively instead,
    so the server's lock table is never filled, and so does one that cannot name them all
    up front (``whole``: a streamed file). Keys are taken in one order (namespace, then
    ascending), so two writers never wait on each other in a circle.
    On SQLite the database's single write lock already serializes writers: nothing to do.
    A lock this transaction holds already (an earlier file of its group) is not asked for
    again; the memo is dropped with a file's savepoint rollback, which releases its locks.
    """
    if db_session.get_bind().dialect.name != "postgresql":
        return
    held: set[tuple[int, str]] = read_cache(db_session).setdefault(HELD_LOCKS, set())
    keys = sorted({lock_key(namespace, name) for name in names})
    whole_key = lock_key(namespace, "")
    if (whole_key, "exclusive") in held:
        return
    if whole or len(keys) > MAX_NAMED_LOCKS:
        db_session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": whole_key})
        held.add((whole_key, "exclusive"))
        return
    if (whole_key, "shared") not in held:
        db_session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": whole_key})
        held.add((whole_key, "shared"))
    for key in keys:
        if (key, "exclusive") not in held:
            db_session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            held.add((key, "exclusive"))


def lock_key(namespace: str, name: str) -> int:
    """A stable signed 64-bit advisory lock key (the same on every host and Python)."""
    digest = hashlib.blake2b(f"inboxd:{namespace}:{name.casefold()}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)
