"""RAG exports: retrieval results (query, response, distance) kept when close enough.

Records at or above the configured distance are left out on purpose and counted, not skipped
as faulty. Each record names its own session and, in ``metadata``, its indicator, so one file
may feed one indicator across several sessions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import BinaryIO

from handlers.base import FileContext, Handler, Rejected
from handlers.jsonio import (
    QUESTION_KEYS,
    Invalid,
    LineRef,
    Meta,
    PairCollector,
    keys_found,
    kind_of,
    pair_place,
    read_json_file,
    read_meta,
)
from handlers.models import QABatch
from handlers.streaming import LineFinder, QAStream, read_layout, refusing

RAG_QUESTION_KEYS = ("query", *QUESTION_KEYS)
EXPECTED_SHAPE = (
    "a list of records (or JSON Lines, one a line) with query or question, response or answer, "
    "distance and metadata"
)


def _distance(record: Mapping[str, object]) -> float | str | None:
    """The record's distance; None when absent (kept), or a reason when it is not a number."""
    value = record.get("distance")
    if value is None:
        return None
    if isinstance(value, str):
        text = value
        try:
            value = float(text.strip())
        except ValueError:
            return f'distance is "{text[:40]}"; expected a number like 0.31'
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"distance is {kind_of(value)}; expected a number like 0.31"
    return float(value)


def _metadata(record: Mapping[str, object]) -> Meta | Invalid:
    """Indicator, session and category from ``metadata``: they win over the record's own."""
    metadata = record.get("metadata")
    if not isinstance(metadata, Mapping):
        return Meta()  # absent or not an object: the record's own fields still say enough
    meta = read_meta(metadata)
    return Invalid(f"metadata's {meta.message}") if isinstance(meta, Invalid) else meta


def _record_list(value: object) -> list[object] | Rejected:
    """The records, or why the file is not a RAG export (for the whole read and the stream)."""
    if not isinstance(value, list):
        found = (
            f"an object with keys {keys_found(value)}"
            if isinstance(value, Mapping)
            else kind_of(value)
        )
        return Rejected(f"not a RAG export: found {found}; expected {EXPECTED_SHAPE}")
    if not value:
        return Rejected(f"no records: the list is empty; expected {EXPECTED_SHAPE}")
    return value


def parse(data: bytes, ctx: FileContext) -> QABatch | Rejected:
    """Pairs from a RAG export, leaving out records at or above the distance threshold."""
    doc = read_json_file(
        data, ctx.name, empty="no records", expected=EXPECTED_SHAPE, place=pair_place
    )
    if isinstance(doc, Rejected):
        return doc
    records = _record_list(doc.value)
    if isinstance(records, Rejected):
        return records
    threshold = ctx.rag_distance_threshold
    collector = PairCollector(question_keys=RAG_QUESTION_KEYS)
    filtered = 0
    for index, record in enumerate(records):
        filtered += _read_record(collector, record, index + 1, doc.line_ref(index), threshold)
    return collector.batch(filtered=filtered, filtered_reason=_filtered_reason(filtered, threshold))


def _filtered_reason(filtered: int, threshold: float) -> str | None:
    return f"distance at or above {threshold:g}" if filtered else None


def _read_record(
    collector: PairCollector, record: object, position: int, line: LineRef, threshold: float
) -> bool:
    """One record into the collector; True when it is left out for its distance."""
    overrides: Meta | Invalid = Meta()
    if isinstance(record, Mapping):
        distance = _distance(record)
        if isinstance(distance, str):
            reason = f"pair {position} cannot be used: {distance}"
            collector.skip(position, line, reason, problem="with an unusable distance")
            return False
        if distance is not None and distance >= threshold:
            return True
        overrides = _metadata(record)
    if isinstance(overrides, Invalid):
        reason = f"pair {position} cannot be used: {overrides.message}"
        collector.skip(position, line, reason, problem="with an unusable field")
        return False
    collector.add(record, position, line, Meta(), overrides)
    return False


def stream(source: BinaryIO, ctx: FileContext) -> QAStream | None:
    """A large RAG export, a list or JSON Lines, read as it goes (None: read it whole instead)."""
    layout = read_layout(source, ctx.name)
    if layout is None:
        return None  # not valid JSON: the whole read says why, word for word
    records = _record_list(layout.value)
    if isinstance(records, Rejected):
        return refusing(source, records)
    threshold = ctx.rag_distance_threshold

    def read(collector: PairCollector, record: object, position: int, lines: LineFinder) -> bool:
        return _read_record(collector, record, position, lines(position - 1), threshold)

    return QAStream(
        source,
        read,
        PairCollector(question_keys=RAG_QUESTION_KEYS),
        layout.records(()),
        filtered_reason=_filtered_reason(1, threshold),
    )


HANDLER = Handler(
    name="rag_export",
    box="outbox",
    patterns=("rag_export*.json", "rag_export*.jsonl"),
    parse=parse,
    importer="qa",
    description="RAG export records, kept when their distance is below the threshold",
    stream=stream,
    carries_pairs=True,
)
