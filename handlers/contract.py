"""What a parser is given and what it answers besides its model: no handler imports here.

``FileContext`` and ``Rejected`` are shared by the routing table, the parsers and their JSON
and text helpers; keeping them apart from ``Handler`` lets those helpers use them without
importing the table's row type (and what it imports in turn).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

Box = Literal["inbox", "outbox"]


class Role(enum.Enum):
    """An agent named by the part it plays, resolved against the settings when a file arrives."""

    REFINER = "refiner"  # Settings.refiner: scores and marks duplicates of stored pairs


@dataclass(frozen=True)
class FileContext:
    """What a parser may know about a file besides its bytes."""

    agent: str
    box: Box
    rel_path: PurePosixPath  # relative to the agent's box folder: session_02/sma_qa_pairs.json
    rag_distance_threshold: float = 0.5
    refiner: str = "gemini"  # Settings.refiner (the same default); the pipeline passes it

    @property
    def name(self) -> str:
        return self.rel_path.name

    @property
    def display(self) -> str:
        """The path a person sees in reasons and logs: ``outbox/droid/session_02/x.json``."""
        return f"{self.box}/{self.agent}/{self.rel_path}"

    def agent_for(self, who: str | Role) -> str:
        """The agent's name: ``who`` itself, or the agent the settings give that role."""
        if isinstance(who, str):
            return who
        return self.refiner  # Role.REFINER, the one role there is


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
