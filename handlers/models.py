"""What parsers produce: typed, validated descriptions of a file's content.

Importers consume these; nothing here knows about the database.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class QAPair(BaseModel):
    """One question and its answer, with whatever the file said about it."""

    question: str
    answer: str
    position: int  # 1-based place of the pair in the file (list index or record number)
    # 1-based line where the pair starts: JSON Lines and reports always; a JSON document's
    # lines are found only for skipped pairs (finding them costs a pass over the text)
    line: int | None = None
    indicator: str | None = None
    session: int | None = None
    category: str | None = None
    difficulty: str | None = None
    source_id: str | None = None  # the pair's own id in the delivering system


class SkippedPair(BaseModel):
    """A pair that could not be used; the rest of the file still is."""

    position: int
    line: int | None = None
    reason: str


class QABatch(BaseModel):
    """Q&A pairs from one file (Q&A JSON, JSON Lines, RAG export, research report, export)."""

    kind: Literal["qa"] = "qa"
    pairs: list[QAPair]
    skipped: list[SkippedPair] = Field(default_factory=list)
    indicator: str | None = None  # the file's own indicator, else derived from its name
    session: int | None = None  # the file's own session, else from its folder
    category: str | None = None
    source_database: str | None = None  # set for multi-session exports
    filtered: int = 0  # records deliberately left out (RAG distance at or above the threshold)
    filtered_reason: str | None = None


class Assignment(BaseModel):
    """``session-NN-assignment.md``: one session handed to an agent."""

    kind: Literal["assignment"] = "assignment"
    session: int
    title: str | None = None
    category: str | None = None
    target_per_indicator: int = 100
    indicators: list[str]


class SessionRow(BaseModel):
    session: int
    title: str | None = None
    indicators: list[str] = Field(default_factory=list)


class SessionIndex(BaseModel):
    """``SESSION_INDEX.md``: a table of planned sessions."""

    kind: Literal["session_index"] = "session_index"
    rows: list[SessionRow]


class Note(BaseModel):
    """Any other Markdown handed to an agent: archived and logged only."""

    kind: Literal["note"] = "note"
    title: str | None = None
    lines: int = 0


class ProgressClaim(BaseModel):
    """``status.txt``: the agent's own claim of progress."""

    kind: Literal["progress"] = "progress"
    sessions_complete: int | None = None
    sessions_total: int | None = None
    current_session: int | None = None
    last_updated: str | None = None
    notes: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)  # every ``Key: value`` line as given


class CompletionSignal(BaseModel):
    """``ALL_SESSIONS_COMPLETE[.txt|.md|.json]``: the agent says its batch is done."""

    kind: Literal["signal"] = "signal"
    claimed_sessions: int | None = None
    claimed_files: int | None = None
    claimed_pairs: int | None = None
    text: str = ""


class RefinementRecord(BaseModel):
    """One line of gemini's ``refinement_*.jsonl``; names a pair by qa_id or question_key."""

    line: int
    qa_id: int | None = None
    question_key: str | None = None
    quality_score: float | None = None
    tier: Literal["premium", "standard", "low"] | None = None
    duplicate_of: int | None = None
    notes: str | None = None


class RefinementResults(BaseModel):
    kind: Literal["refinement"] = "refinement"
    records: list[RefinementRecord]
    skipped: list[SkippedPair] = Field(default_factory=list)


ParsedFile = (
    QABatch
    | Assignment
    | SessionIndex
    | Note
    | ProgressClaim
    | CompletionSignal
    | RefinementResults
)
