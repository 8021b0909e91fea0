"""Group commit on PostgreSQL: the same tests as on SQLite (savepoints, one commit, a failed
file rolled back alone while the transaction goes on)."""

from tests.daemon.test_group_commit import (  # noqa: F401 (collected here with PG fixtures)
    commits,
    group_pipeline,
    test_a_file_that_fails_in_a_group_is_rolled_back_alone_and_recorded_failed,
    test_a_group_is_imported_in_one_commit_with_each_file_its_own_outcome,
    test_a_question_in_two_files_of_one_group_is_stored_once,
    test_rejected_unchanged_and_duplicate_files_keep_their_outcomes_in_a_group,
)
