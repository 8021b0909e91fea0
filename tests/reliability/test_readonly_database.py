"""Issue 14, point 3: a read-only database file is a fault that clears.

While the file cannot be written the files wait (the status says why); once it is writable
again the daemon notices within its retry interval, without a restart. The file is made
read-only with the immutable attribute (``tests.support.read_only_file``): root writes
through permission bits, but SQLite opens an immutable file read-only, as it does for a
daemon whose user lost write access.
"""

from __future__ import annotations

from collections.abc import Callable

from daemon.config import Settings
from daemon.live.service import TRANSIENT_RETRY_SECONDS, Daemon
from daemon.store.engine import Database
from tests.support import deliver, read_only_file, read_status, wait_for

FILE = "outbox/droid/session_02/sma_qa_pairs.json"


def test_a_database_writable_again_is_noticed_within_the_retry_interval(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon]
) -> None:
    db.dispose()
    root = settings.root_path
    with read_only_file(settings.var_dir / "inboxd.db") as writable:
        daemon = start_daemon(db_busy_timeout=0.1, db_retry_seconds=0.3)
        deliver(root, FILE)
        waiting = wait_for(
            lambda: read_status(root, "droid").get("waiting"), 10, "a waiting notice"
        )
        assert "attempt to write a readonly database" in waiting["reason"]
        writable()
        # the next retry (every TRANSIENT_RETRY_SECONDS) must find the file writable
        deadline = 2 * TRANSIENT_RETRY_SECONDS + 2
        wait_for(
            lambda: daemon.counts["imported"] == 1,
            deadline,
            f"the file imported within {deadline}s of the database becoming writable",
        )
    assert daemon.join(10)
    view = read_status(root, "droid")
    assert "waiting" not in view
    assert view["pairs"]["imported"] == 4
