"""Q&A JSON and JSON Lines delivered in an outbox: the agents' main product.

Three shapes (docs/formats.md, "Q&A pairs"): an object holding the pair list and the file's
indicator/session/category, a bare list of pairs, or JSON Lines with one pair a line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import BinaryIO

from handlers.base import FileContext, Handler, Rejected, session_from_folders
from handlers.jsonio import (
    LIST_KEYS,
    QUESTION_KEYS,
    Invalid,
    JsonPath,
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
from handlers.text import indicator_from_filename

EXPECTED_SHAPE = f"a list of pairs, or an object with one of {', '.join(LIST_KEYS)}"


def _pair_list(value: object) -> tuple[list[object], JsonPath, Meta] | Rejected:
    """The pairs, the path to their list (for lines), and what the file itself says.

    Shared by the whole read and the stream, which gives it ``Layout.value``: the file's
    shape rules, and the wording of their rejections, live here once.
    """
    pairs: object = value
    path: JsonPath = ()
    meta = Meta()
    if isinstance(value, Mapping):
        key, pairs = first_present(value, LIST_KEYS)
        if key is None:
            hint = ""
            if first_present(value, QUESTION_KEYS)[0] is not None:
                hint = " (a single pair? put it in a list: [{...}])"
            return Rejected(
                f"not a known Q&A shape: found keys {keys_found(value)}; expected {EXPECTED_SHAPE}"
                + hint
            )
        if not isinstance(pairs, list):
            return Rejected(f'"{key}" is {kind_of(pairs)}; expected a list of pairs')
        own = read_meta(value)
        if isinstance(own, Invalid):
            return Rejected(f"the file's {own.message}")
        path, meta = (key,), own
    if not isinstance(pairs, list):
        return Rejected(f"not a known Q&A shape: found {kind_of(value)}; expected {EXPECTED_SHAPE}")
    if not pairs:
        where = f'"{path[0]}" is an empty list' if path else "the list is empty"
        return Rejected(f"no pairs: {where}; expected at least one pair")
    return pairs, path, meta


def _defaults(own: Meta, ctx: FileContext) -> Meta:
    """What each pair lacks: the file's own metadata, else its name and its folders."""
    return own.over(Meta(indicator_from_filename(ctx.name), session_from_folders(ctx.rel_path)))


def parse(data: bytes, ctx: FileContext) -> QABatch | Rejected:
    """Pairs from one Q&A file; pairs without a question or answer are skipped and counted."""
    doc = read_json_file(
        data, ctx.name, empty="no pairs", expected=EXPECTED_SHAPE, place=pair_place
    )
    if isinstance(doc, Rejected):
        return doc
    found = _pair_list(doc.value)
    if isinstance(found, Rejected):
        return found
    pairs, path, own = found
    defaults = _defaults(own, ctx)
    collector = PairCollector()
    for index, record in enumerate(pairs):
        collector.add(record, index + 1, doc.line_ref(*path, index), defaults)
    return collector.batch(
        indicator=defaults.indicator, session=defaults.session, category=defaults.category
    )


def stream(source: BinaryIO, ctx: FileContext) -> QAStream | None:
    """A large Q&A file in any of its shapes, read as it goes (None: read it whole instead)."""
    layout = read_layout(source, ctx.name)
    if layout is None:
        return None  # not valid JSON: the whole read says why, word for word
    found = _pair_list(layout.value)
    if isinstance(found, Rejected):
        return refusing(source, found)
    _, path, own = found
    defaults = _defaults(own, ctx)

    def read(collector: PairCollector, record: object, position: int, lines: LineFinder) -> bool:
        collector.add(record, position, lines(*path, position - 1), defaults)
        return False

    return QAStream(
        source,
        read,
        PairCollector(),
        layout.records(path),
        indicator=defaults.indicator,
        session=defaults.session,
        category=defaults.category,
    )


HANDLER = Handler(
    name="qa",
    box="outbox",
    patterns=("*.json", "*.jsonl"),
    parse=parse,
    importer="qa",
    description="Q&A pairs: an object with a pair list, a list of pairs, or JSON Lines",
    stream=stream,
    carries_pairs=True,
)
