"""The contract every handler keeps: one row of the routing table.

A handler says which files it takes (box, name pattern, agents), parses bytes into a pydantic
model without touching the database, names the importer that applies that model, and says
whether its files carry Q&A pairs (those count as the agent's deliveries). Parsers are pure
so they can be fuzzed and reused by ``--dry-run``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from pydantic import BaseModel

from handlers.contract import Box, FileContext, Rejected, Role

if TYPE_CHECKING:
    from handlers.streaming import QAStream

Parser = Callable[[bytes, FileContext], "BaseModel | Rejected"]
# a large file read as it goes (handlers/streaming.py): a QAStream, or None to read it whole
StreamParser = Callable[[BinaryIO, FileContext], "QAStream | None"]


@dataclass(frozen=True)
class Handler:
    """One kind of file: where it is taken, how it is parsed, who imports it."""

    name: str  # also the kind recorded in the ledger
    box: Box
    patterns: tuple[str, ...]  # fnmatch patterns on the file name, case-insensitive
    parse: Parser
    importer: str  # a key of daemon.ingest.importers.IMPORTERS, checked when the daemon starts
    agents: tuple[str | Role, ...] = ()  # empty: any agent; a Role: whoever the settings name
    description: str = ""
    exclude: tuple[str, ...] = field(default=())
    stream: StreamParser | None = None  # for files over the streaming size, when it can
    carries_pairs: bool = False  # counted as a delivery: batch close, the status's sessions
    backup_first: bool = False  # a change hard to undo: the database is backed up before it

    def serves(self, ctx: FileContext) -> bool:
        """Whether this handler takes files from this box of this agent."""
        if ctx.box != self.box:
            return False
        return not self.agents or ctx.agent in {ctx.agent_for(a) for a in self.agents}

    def takes(self, ctx: FileContext) -> bool:
        """Whether this handler claims the file, by box, agent and name."""
        if not self.serves(ctx):
            return False
        name = ctx.name.lower()
        if any(fnmatch.fnmatchcase(name, p.lower()) for p in self.exclude):
            return False
        return any(fnmatch.fnmatchcase(name, p.lower()) for p in self.patterns)


SESSION_DIR_RE = re.compile(r"^session[_-]?(\d+)$", re.IGNORECASE)


def session_from_folders(rel_path: PurePosixPath) -> int | None:
    """Session number from the nearest parent folder named ``session_02`` or ``session-02``."""
    for part in reversed(rel_path.parts[:-1]):
        m = SESSION_DIR_RE.match(part)
        if m:
            return int(m.group(1))
    return None


__all__ = [
    "SESSION_DIR_RE",
    "Box",
    "FileContext",
    "Handler",
    "Parser",
    "Rejected",
    "Role",
    "StreamParser",
    "session_from_folders",
]
