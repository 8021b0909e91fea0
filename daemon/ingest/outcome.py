"""What became of a file: its ``FileOutcome``, and the lines the log gets about it.

Every stage of the pipeline ends a file it cannot take further with an outcome made here;
the pipeline, the daemon and the commands read them (one vocabulary: ``OUTCOMES``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from daemon.errors import TransientError
from daemon.ingest.delivery import Delivery
from daemon.ingest.importers import ImportResult
from daemon.ingest.paths import Location
from daemon.logging import get_logger

log = get_logger("inboxd.pipeline")


@dataclass
class FileOutcome:
    """What became of one file; ``outcome`` is one of OUTCOMES."""

    path: str
    outcome: str
    agent: str | None = None
    kind: str | None = None
    reason: str | None = None
    result: ImportResult = field(default_factory=ImportResult)
    ms: float = 0.0
    repeat: bool = False  # said already (a file still waiting): not logged or shown again


OUTCOMES = (
    "imported",
    "rejected",
    "failed",
    "unchanged",
    "ignored",
    "vanished",
    "dry-run",
    "waiting",  # the daemon may not read it: shown in the agent's status, not in the ledger
)
SHOWN = ("imported", "rejected", "failed", "waiting")  # outcomes an agent's status shows


def log_outcome(outcome: FileOutcome) -> None:
    """The file's line in the log: ``file.<outcome>``, an error for what needs a person."""
    if outcome.outcome == "ignored":
        return
    fields = {
        "agent": outcome.agent,
        "path": outcome.path,
        "kind": outcome.kind,
        "outcome": outcome.outcome,
        "pairs": outcome.result.stored,
        "duplicates": outcome.result.duplicate,
        "skipped": outcome.result.skipped,
        "ms": outcome.ms,
    }
    if outcome.reason:
        fields["reason"] = outcome.reason
    if outcome.outcome in ("rejected", "failed", "waiting"):
        log.error(f"file.{outcome.outcome}", **fields)
    else:
        log.info(f"file.{outcome.outcome.replace('-', '_')}", **fields)


def ended(
    where: Location,
    outcome: str,
    reason: str | None,
    kind: str | None = None,
    *,
    repeat: bool = False,
) -> FileOutcome:
    return FileOutcome(
        path=where.rel_root,
        outcome=outcome,
        agent=where.agent,
        kind=kind,
        reason=reason,
        repeat=repeat,
    )


def run_after_commit(result: ImportResult, delivery: Delivery) -> None:
    """The importer's work for after its commit: a failure there is logged, and the file
    stays imported (its rows are committed)."""
    for action in result.after_commit:
        try:
            action()
        except Exception as exc:
            log.error(
                "file.after_commit_failed",
                agent=delivery.agent,
                path=delivery.rel_root,
                reason=str(exc) or type(exc).__name__,
            )


def log_group(outcomes: list[FileOutcome | TransientError], started: float) -> None:
    """One line per group transaction: how many files it held and how many it imported."""
    imported = [o for o in outcomes if isinstance(o, FileOutcome) and o.outcome == "imported"]
    log.info(
        "group.committed" if imported else "group.ended",
        files=len(outcomes),
        imported=len(imported),
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
