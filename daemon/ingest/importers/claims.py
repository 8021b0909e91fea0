"""The agent's own progress claim, kept to be shown beside the database's numbers."""

from __future__ import annotations

from daemon.ingest.importers.base import ImportContext, ImportResult
from daemon.store.models import ProgressClaimRow
from handlers.models import ProgressClaim


def apply(ictx: ImportContext, claim: ProgressClaim) -> ImportResult:
    ictx.db_session.add(
        ProgressClaimRow(
            agent=ictx.file.agent,
            file_id=ictx.file_id,
            sessions_complete=claim.sessions_complete,
            sessions_total=claim.sessions_total,
            current_session=claim.current_session,
            last_updated=claim.last_updated,
            notes=claim.notes,
            fields=claim.fields,
            received_at=ictx.now,
        )
    )
    return ImportResult(
        details={
            "claimed": f"{claim.sessions_complete}/{claim.sessions_total}",
            "current_session": claim.current_session,
        },
        concerns={ictx.file.agent, ictx.settings.orchestrator},
    )
