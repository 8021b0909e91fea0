"""How the pipeline waits: a writer's transient lock on a file, a busy or absent database.

The policies are built once (at import, or once per setting): building one costs more than
reading a small file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)
from tenacity.stop import stop_base

from daemon.errors import TransientError
from daemon.store.locks import KeyConflict

T = TypeVar("T")
KEY_CONFLICT_ATTEMPTS = 5

_READ_RETRYING = Retrying(
    # a permission error is not retried: the file waits for its mode to change (ingest/waiting)
    retry=retry_if_exception_type(BlockingIOError),
    stop=stop_after_delay(5),
    wait=wait_exponential(multiplier=0.05, max=1),
    reraise=True,
)


def read_whole(path: Path) -> bytes:
    """Read a whole file; a writer's transient lock is retried, a vanished file is not."""
    return _READ_RETRYING(path.read_bytes)


class _KeyConflictsExhausted(stop_base):
    """Stop once a unit of work has met another daemon's question too many times."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        failed = outcome.exception() if outcome is not None else None
        return isinstance(failed, KeyConflict) and (
            retry_state.attempt_number >= KEY_CONFLICT_ATTEMPTS
        )


@functools.cache
def _db_retrying(seconds: float) -> Retrying:
    """The database retry policy for this many seconds (built once per setting)."""
    return Retrying(
        retry=retry_if_exception_type((OperationalError, KeyConflict)),
        stop=stop_after_delay(seconds) | _KeyConflictsExhausted(),
        wait=wait_exponential(multiplier=0.05, max=2),
        reraise=True,
    )


def with_db_retry(func: Callable[[], T], seconds: float) -> T:
    """Retry a unit of work while the database is busy or away; then it is a TransientError.

    A question stored by another daemon meanwhile (``KeyConflict``) is retried too, at most
    five times: each run reads what was committed before it, so it ends as soon as the other
    daemons' rows are seen as duplicates (after that the file waits, like a busy database).
    Other integrity errors are not retried.
    """
    try:
        return _db_retrying(seconds)(func)
    except OperationalError as exc:
        raise TransientError(f"database unavailable: {exc.orig}") from exc
