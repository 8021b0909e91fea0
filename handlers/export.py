"""Multi-session exports (``database_qa_export_*.json``): another database's pairs, by session.

Every pair carries its session's number and topic (as indicator) so the importer can
integrate session by session; the file stem is recorded as the source database.

A large export (the whole database, 40 MB and more) can be streamed a session at a time
(``stream``), with the same pairs, skipped pairs, lines and rejections as ``parse`` gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import BinaryIO

from handlers.base import FileContext, Handler, Rejected
from handlers.jsonio import (
    LIST_KEYS,
    Invalid,
    JsonDocument,
    JsonPath,
    LineRef,
    Meta,
    PairCollector,
    first_present,
    keys_found,
    kind_of,
    pair_place,
    read_json_file,
    read_meta,
)
from handlers.models import QABatch
from handlers.streaming import LineFinder, QAStream, read_layout, refusing

EXPECTED_SHAPE = (
    'an object with a "sessions" list, each session an object with session_id, topic and qa_pairs'
)
_UNUSABLE_SESSION = "in a session that cannot be used"


def _session_label(index: int, session: Mapping[str, object]) -> str:
    """``session 2 of the export (topic "AI Ethics")``: how a person finds it in the file."""
    topic = session.get("topic")
    named = f' (topic "{topic[:60]}")' if isinstance(topic, str) and topic.strip() else ""
    return f"session {index} of the export{named}"


def parse(data: bytes, ctx: FileContext) -> QABatch | Rejected:
    """All pairs of an export, each with its session; faulty sessions skip only their pairs."""
    doc = _read_document(data, ctx.name)
    if isinstance(doc, Rejected):
        return doc
    sessions = _session_list(doc.value)
    if isinstance(sessions, Rejected):
        return sessions
    collector = PairCollector()
    position = 0
    for index, session in enumerate(sessions):
        position = _add_session(collector, doc.line_ref, index, session, position)
    return collector.batch(source_database=_source_database(ctx))


def _read_document(data: bytes, name: str) -> JsonDocument | Rejected:
    """The export as one JSON document, with the lines of its sessions and pairs on demand."""
    return read_json_file(
        data,
        name,
        empty="no sessions",
        expected=EXPECTED_SHAPE,
        line_depth=4,
        json_lines=False,
        place=_place,
    )


def _place(path: JsonPath) -> str | None:
    """Where in the export a fault is: ``pair 3 of session 2 of the export``."""
    if len(path) < 2 or path[0] != "sessions" or not isinstance(path[1], int):
        return None
    session = f"session {path[1] + 1} of the export"
    pair = pair_place(path[2:]) if len(path) > 3 else None
    return f"{pair} of {session}" if pair else session


def _source_database(ctx: FileContext) -> str:
    return PurePosixPath(ctx.name).stem


def _session_list(value: object) -> list[object] | Rejected:
    """The export's sessions, or why the document is not an export."""
    if not isinstance(value, Mapping):
        return Rejected(
            f"not a multi-session export: found {kind_of(value)}; expected {EXPECTED_SHAPE}"
        )
    sessions = value.get("sessions")
    if not isinstance(sessions, list):
        found = (
            f"keys {keys_found(value)}"
            if sessions is None
            else f'"sessions" that is {kind_of(sessions)}'
        )
        return Rejected(f"not a multi-session export: found {found}; expected {EXPECTED_SHAPE}")
    if not sessions:
        return Rejected('no pairs: "sessions" is an empty list; expected at least one session')
    return sessions


def _add_session(
    collector: PairCollector,
    line_ref: Callable[..., LineRef],
    index: int,
    session: object,
    position: int,
) -> int:
    """Collect one export session's pairs; returns the last position used.

    A session that cannot be read counts as one skipped entry; a session without a usable
    session_id skips each of its pairs, so the numbers still add up. ``line_ref`` finds
    where a value starts, by its path (``JsonDocument.line_ref``).
    """
    line = line_ref("sessions", index)
    if not isinstance(session, Mapping):
        reason = (
            f"session {index + 1} of the export is {kind_of(session)}; "
            "expected an object with session_id, topic and qa_pairs"
        )
        collector.skip(position + 1, line, reason, _UNUSABLE_SESSION)
        return position + 1
    label = _session_label(index + 1, session)
    key, pairs = first_present(session, LIST_KEYS)
    if key is None or not isinstance(pairs, list):
        found = (
            f"keys found: {keys_found(session)}" if key is None else f'"{key}" is {kind_of(pairs)}'
        )
        reason = (
            f"{label} has no list of pairs ({found}; expected a list under one of "
            f"{', '.join(LIST_KEYS)})"
        )
        collector.skip(position + 1, line, reason, _UNUSABLE_SESSION)
        return position + 1
    meta = read_meta(session)
    problem: str | None = None
    if isinstance(meta, Invalid):
        problem = f"its {meta.message}"
        meta = Meta()
    elif meta.session is None:
        problem = f"it has no session_id (keys found: {keys_found(session)})"
    for pair_index, record in enumerate(pairs):
        position += 1
        pair_line = line_ref("sessions", index, key, pair_index)
        if problem is None:
            collector.add(record, position, pair_line, meta)
        else:
            reason = f"pair {position} is in {label}, which cannot be used: {problem}"
            collector.skip(position, pair_line, reason, _UNUSABLE_SESSION)
    return position


def stream(source: BinaryIO, ctx: FileContext) -> QAStream | None:
    """A large export, read a session at a time (None: read it whole instead)."""
    layout = read_layout(source, ctx.name, json_lines=False)
    if layout is None:
        return None  # not valid JSON: the whole read says why, word for word
    sessions = _session_list(layout.value)
    if isinstance(sessions, Rejected):
        return refusing(source, sessions)
    position = 0

    def read(collector: PairCollector, record: object, number: int, lines: LineFinder) -> bool:
        nonlocal position
        position = _add_session(collector, lines, number - 1, record, position)
        return False

    return QAStream(
        source,
        read,
        PairCollector(),
        layout.records(("sessions",)),
        source_database=_source_database(ctx),
    )


HANDLER = Handler(
    name="export",
    box="outbox",
    patterns=("database_qa_export_*.json",),
    parse=parse,
    importer="qa",
    description="multi-session export of another database, integrated session by session",
    stream=stream,
    carries_pairs=True,
    backup_first=True,  # a whole database merged at once (the users' plan: back up first)
)
