"""The one place the pipeline and its status writer are put together.

The daemon, ``scan``, ``process`` and ``retry`` differ only in when a status is written
after a file: at once (a person is waiting), never (``process --dry-run`` changes nothing),
or when the daemon's own schedule says (it batches writes during a burst).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from daemon.config import Settings
from daemon.ingest.pipeline import Pipeline, StatusHook
from daemon.ingest.waiting import WaitingFiles
from daemon.status.writer import StatusWriter
from daemon.store.engine import Database

# "write-now": the concerned agents' status after every file; "no-writes": none at all;
# a hook: called with the concerned agents, it decides (the daemon's deferred writes).
StatusPolicy = Literal["write-now", "no-writes"] | StatusHook


class Ingest(NamedTuple):
    """A pipeline and the status writer it reports to."""

    pipeline: Pipeline
    status: StatusWriter


def assemble(settings: Settings, db: Database, policy: StatusPolicy = "write-now") -> Ingest:
    """The pipeline and its status writer, the status written as ``policy`` says."""
    waiting = WaitingFiles()  # what the pipeline may not read, shown by the status
    status = StatusWriter(settings, db, waiting)
    on_status: StatusHook | None
    if not isinstance(policy, str):
        on_status = policy
    else:
        on_status = status.write if policy == "write-now" else None
    return Ingest(Pipeline(settings, db, on_status=on_status, waiting=waiting), status)
