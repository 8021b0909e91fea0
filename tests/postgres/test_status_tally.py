"""The status writer's running counts against a fresh count, on PostgreSQL (ids come from a
sequence there: never reused, but committed out of order by concurrent daemons)."""

from __future__ import annotations

from tests.daemon.test_status_tally import (  # noqa: F401 (collected here with PG fixtures)
    test_a_retried_rejection_is_counted_once,
    test_kept_counts_equal_a_fresh_count_after_every_file,
    test_rows_removed_behind_inboxds_back_are_noticed,
    test_rows_updated_behind_inboxds_back_are_noticed_by_the_recount,
    writer,
)
