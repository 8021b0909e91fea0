"""One example file per handler and name pattern, read from the routing table.

The fuzz tests feed every parser through these, so a handler added to ``handlers.HANDLERS``
is fuzzed without anyone listing it here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import PurePosixPath

import handlers
from handlers.base import FileContext, Handler, Parser, Rejected
from handlers.models import QABatch, QAPair
from handlers.streaming import QAStream, StreamRejected

JSON_SUFFIXES = (".json", ".jsonl")


@dataclass(frozen=True)
class Case:
    """A file name a handler takes, in a context the table routes to it."""

    handler: Handler
    ctx: FileContext

    @property
    def parse(self) -> Parser:
        return self.handler.parse

    @property
    def id(self) -> str:
        return f"{self.handler.name}:{self.ctx.rel_path}"


def example_name(pattern: str) -> str:
    """A name the pattern matches: an open extension is ``json``, any other ``*`` is ``02``.

    ``ALL_SESSIONS_COMPLETE.*`` -> ``ALL_SESSIONS_COMPLETE.json``;
    ``session-*-assignment.md`` -> ``session-02-assignment.md``.
    """
    if pattern.endswith(".*"):
        pattern = pattern[:-1] + "json"
    return pattern.replace("*", "02")


def case_for(handler: Handler, pattern: str) -> Case:
    """Pair files sit in a session folder, as agents deliver them; a role names its agent."""
    name = example_name(pattern)
    rel_path = PurePosixPath("session_02", name) if handler.carries_pairs else PurePosixPath(name)
    ctx = FileContext(agent="droid", box=handler.box, rel_path=rel_path)
    if handler.agents:
        ctx = replace(ctx, agent=ctx.agent_for(handler.agents[0]))
    return Case(handler, ctx)


def table_cases(table: tuple[Handler, ...] | None = None) -> list[Case]:
    """Every pattern of every handler in the table (``handlers.HANDLERS`` by default)."""
    table = handlers.HANDLERS if table is None else table
    return [case_for(handler, pattern) for handler in table for pattern in handler.patterns]


CASES = table_cases()
JSON_CASES = [case for case in CASES if case.ctx.name.endswith(JSON_SUFFIXES)]


def drain(stream: QAStream | None, size: int) -> QABatch | Rejected | None:
    """A stream drained as the Q&A importer drains it, ``size`` pairs a chunk, into the batch
    ``parse`` would give for the same file (None: the handler left the file to the whole read)."""
    if stream is None:
        return None
    pairs: list[QAPair] = []
    try:
        for chunk in stream.chunks(size):
            assert 0 < len(chunk) <= size
            pairs += chunk
    except StreamRejected as exc:
        return exc.rejection
    return QABatch(
        pairs=pairs,
        skipped=stream.skipped,
        indicator=stream.indicator,
        session=stream.session,
        category=stream.category,
        source_database=stream.source_database,
        filtered=stream.filtered,
        filtered_reason=stream.filtered_reason if stream.filtered else None,
    )
