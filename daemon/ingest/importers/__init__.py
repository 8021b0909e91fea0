"""Importers: the only code that writes data tables, one per kind of parsed model.

A handler names its importer by key (``Handler.importer``); the pipeline refuses to start
when the routing table names a key missing here. A new kind of file whose model an existing
importer applies (Q&A pairs: ``"qa"``) adds nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daemon.ingest.importers import claims, plans, qa, refinement, signal
from daemon.ingest.importers.base import ImportContext, ImportResult

Importer = Callable[[ImportContext, Any], ImportResult]

IMPORTERS: dict[str, Importer] = {
    "qa": qa.apply,
    "assignment": plans.apply_assignment,
    "session_index": plans.apply_session_index,
    "note": plans.apply_note,
    "progress": claims.apply,
    "signal": signal.apply,
    "refinement": refinement.apply,
}

__all__ = ["IMPORTERS", "ImportContext", "ImportResult", "Importer"]
