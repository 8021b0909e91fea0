"""The contract every handler keeps.

A handler says which files it takes (box, name pattern), parses bytes into a pydantic model
without touching the database, and names the importer that applies that model. Parsers are
pure so they can be fuzzed and reused by ``--dry-run``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Literal

from pydantic import BaseModel

if TYPE_CHECKING:
    from handlers.streaming import QAStream

Box = Literal["inbox", "outbox"]
ImporterName = Literal[
    "qa", "assignment", "session_index", "note", "progress", "signal", "refinement"
]


@dataclass(frozen=True)
class FileContext:
    """What a parser may know about a file besides its bytes."""

    agent: str
    box: Box
    rel_path: PurePosixPath  # relative to the agent's box folder: session_02/sma_qa_pairs.json
    rag_distance_threshold: float = 0.5

    @property
    def name(self) -> str:
        return self.rel_path.name

    @property
    def display(self) -> str:
        """The path a person sees in reasons and logs: ``outbox/droid/session_02/x.json``."""
        return f"{self.box}/{self.agent}/{self.rel_path}"


@dataclass(frozen=True)
class Rejected:
    """A parser's expected failure: the file cannot be used as its kind.

    ``reason`` says what was found and what was expected; ``line``/``column`` (1-based) say
    where, when there is a place.
    """

    reason: str
    line: int | None = None
    column: int | None = None

    def describe(self, display_path: str) -> str:
        where = display_path
        if self.line is not None:
            where += f", line {self.line}"
            if self.column is not None:
                where += f", column {self.column}"
        return f"{where}: {self.reason}"


Parser = Callable[[bytes, FileContext], "BaseModel | Rejected"]
# a large file read as it goes (handlers/streaming.py): a QAStream, or None to read it whole
StreamParser = Callable[[BinaryIO, FileContext], "QAStream | None"]


@dataclass(frozen=True)
class Handler:
    """One kind of file: where it is taken, how it is parsed, who imports it."""

    name: str
    box: Box
    patterns: tuple[str, ...]  # fnmatch patterns on the file name, case-insensitive
    parse: Parser
    importer: ImporterName
    agents: tuple[str, ...] = ()  # empty: any agent
    description: str = ""
    exclude: tuple[str, ...] = field(default=())
    stream: StreamParser | None = None  # for files over the streaming size, when it can

    def takes(self, ctx: FileContext) -> bool:
        """Whether this handler claims the file, by box, agent and name."""
        if ctx.box != self.box:
            return False
        if self.agents and ctx.agent not in self.agents:
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
