"""Scenario 8: polling mode with rapid create/delete/recreate of the same name: every arrival
that stays in place longer than a poll interval plus the settle time is seen and imported.

Each round writes and deletes a few short-lived versions at once, then leaves a final version
in place until it is imported; no version is ever rejected (none is read half-written), and
every final version's pairs are stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial

import pytest

from daemon.config import Settings
from daemon.live.service import Daemon
from daemon.store.engine import Database
from tests.reliability.probes import (
    agent_status,
    has_question,
    ledger_rows,
    pair_count,
    qa_document,
)
from tests.support import wait_for

REL = "outbox/droid/churn_qa_pairs.json"
ROUNDS = 6
SHORT_LIVED = 5  # versions created and deleted at once in each round
WIDTH = 240  # with "same-size", every version is padded to this many bytes


def _version(round_no: int, version: str, same_size: bool) -> tuple[str, bytes]:
    question = f"Churn round {round_no} version {version}: what is the funding rate?"
    data = qa_document(question)
    if same_size:
        assert len(data) <= WIDTH
        data = data.ljust(WIDTH)  # trailing blanks: still the same JSON
    return question, data


@pytest.mark.parametrize("same_size", [False, True], ids=["sizes-differ", "same-size"])
def test_polling_rapid_delete_and_recreate_imports_every_final_version(
    settings: Settings, db: Database, start_daemon: Callable[..., Daemon], same_size: bool
) -> None:
    daemon = start_daemon(polling=True)
    target = settings.root_path / REL
    finals = []
    for round_no in range(ROUNDS):
        for version in range(SHORT_LIVED):
            target.write_bytes(_version(round_no, str(version), same_size)[1])
            target.unlink()
        question, data = _version(round_no, "final", same_size)
        target.write_bytes(data)
        finals.append((question, hashlib.sha256(data).hexdigest()))
        # the final version stays until it is stored (a poll interval plus settle, and then some)
        wait_for(
            partial(has_question, db, question),
            timeout=5,
            what=f"round {round_no}'s final version",
        )

    assert daemon.join(5)
    rows = ledger_rows(db, REL)
    assert {r.outcome for r in rows} == {"imported"}, [r.reason for r in rows]
    imported = {r.sha256 for r in rows}
    assert all(digest in imported for _, digest in finals)
    assert all(has_question(db, question) for question, _ in finals)
    assert daemon.counts["worker_error"] == 0
    wait_for(
        lambda: agent_status(settings.root_path).get("pairs", {}).get("imported") == pair_count(db),
        timeout=5,
        what="droid's status to count every stored pair",
    )
