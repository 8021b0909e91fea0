"""The routing table: which handler takes which file.

Order matters: the first handler whose ``takes`` answers yes gets the file, so specific names
(``status.txt``, ``rag_export*``) come before the generic ``*.json``. Adding a kind of file is
one module exposing ``HANDLER`` and one line here (docs/adding-a-file-kind.md): which kinds
carry pairs, which agents a handler serves and which importer applies it are read from the
table when a file arrives, never kept in a second list.
"""

from __future__ import annotations

from handlers import (
    assignment,
    export,
    note,
    progress_claim,
    qa_json,
    rag_export,
    refinement,
    research_report,
    session_index,
    signal,
)
from handlers.base import Box, FileContext, Handler, Rejected, Role

HANDLERS: tuple[Handler, ...] = (
    signal.HANDLER,
    progress_claim.HANDLER,
    refinement.HANDLER,
    export.HANDLER,
    rag_export.HANDLER,
    research_report.HANDLER,
    qa_json.HANDLER,
    assignment.HANDLER,
    session_index.HANDLER,
    note.HANDLER,
)


def check_registry(handlers: tuple[Handler, ...] | None = None) -> None:
    """Refuse to start with an empty table or two handlers of one name."""
    handlers = HANDLERS if handlers is None else handlers
    if not handlers:
        raise RuntimeError("no handlers registered")
    names = [h.name for h in handlers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RuntimeError(f"handler names registered twice: {', '.join(dupes)}")


def pair_kinds(handlers: tuple[Handler, ...] | None = None) -> tuple[str, ...]:
    """The kinds (handler names, as the ledger records them) whose files carry Q&A pairs."""
    return tuple(h.name for h in (HANDLERS if handlers is None else handlers) if h.carries_pairs)


def route(ctx: FileContext, handlers: tuple[Handler, ...] | None = None) -> Handler | Rejected:
    """The handler for a file, or the reason none takes it (naming what would be taken)."""
    handlers = HANDLERS if handlers is None else handlers
    for handler in handlers:
        if handler.takes(ctx):
            return handler
    expected = "; ".join(f"{h.name}: {', '.join(h.patterns)}" for h in handlers if h.serves(ctx))
    return Rejected(f"not a known kind of file in {ctx.box}/{ctx.agent}/ (taken here: {expected})")


__all__ = [
    "HANDLERS",
    "Box",
    "FileContext",
    "Handler",
    "Rejected",
    "Role",
    "check_registry",
    "pair_kinds",
    "route",
]
