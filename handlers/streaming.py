"""Large deliveries read as they go, so memory does not grow with the file.

A 1 GB RAG export read whole costs several GB of memory as text, parsed values and pairs.
Streamed, at most one chunk of pairs is alive at a time: the importer stores a chunk, then
asks for the next. A fault found on line 400,000 (invalid JSON, invalid UTF-8, nesting too
deep) rejects the whole file, exactly as when it is read whole: the stream raises
``StreamRejected`` and the pipeline rolls the file's one transaction back.

JSON Lines are read a line at a time. Only files that begin with a JSON object line are
streamed; anything else (a document in a ``.jsonl`` file, UTF-16) is read whole by the
handler's ordinary parser.

A JSON document (a multi-session export) is read with ijson (yajl, in C), one element of
its main list at a time. yajl and orjson do not accept exactly the same texts, so the file
is first checked in one quick pass (``regular_document``): only a file that both read alike
is streamed; any other, including every faulty one, is read whole, so its rejection is
word for word the one the whole-file parser gives.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import ijson

from handlers.contract import Rejected
from handlers.jsonio import MAX_DEPTH, JsonPath, PairCollector, parse_json_line
from handlers.models import QAPair, SkippedPair

EXPECTED_LINE = "one JSON object a line"
_FOREIGN_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

# (collector, record, position, line) -> whether the record was deliberately left out
RecordReader = Callable[[PairCollector, object, int, int], bool]
# a file's records as ``(line, record)``: JSON Lines' lines, or an export's sessions
Records = Callable[[BinaryIO], Iterator[tuple[int, object]]]


class StreamRejected(Exception):
    """The file turned out unusable part-way through; nothing of it may be kept."""

    def __init__(self, rejection: Rejected) -> None:
        super().__init__(rejection.reason)
        self.rejection = rejection


def _decode_line(raw: bytes, number: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StreamRejected(
            Rejected(
                f"invalid UTF-8 at byte {exc.start} of line {number} ({exc.reason}); "
                "expected UTF-8, or UTF-16 with a BOM",
                number,
                exc.start + 1,
            )
        ) from None
    if "\x00" in text:
        raise StreamRejected(
            Rejected(
                "binary data (a NUL character); expected text in UTF-8, or UTF-16 with a BOM",
                number,
                text.index("\x00") + 1,
            )
        )
    return text


def json_line_records(source: BinaryIO) -> Iterator[tuple[int, object]]:
    """``(line number, value)`` for every non-blank line; raises ``StreamRejected``."""
    for number, raw in enumerate(source, 1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        value = parse_json_line(_decode_line(raw, number), number, expected=EXPECTED_LINE)
        if isinstance(value, Rejected):
            raise StreamRejected(value)
        yield number, value


def streamable(source: BinaryIO) -> bool:
    """Whether a file can be streamed: UTF-8 whose first non-blank line is a JSON object.

    Reads a little from ``source`` and leaves it at the start again.
    """
    try:
        head = source.read(4)
        if head.startswith(_FOREIGN_BOMS):
            return False
        source.seek(0)
        for _, value in json_line_records(source):
            return isinstance(value, dict)
        return False
    except StreamRejected:
        return False
    finally:
        source.seek(0)


@dataclass
class QAStream:
    """Pairs of one large file, handed out in chunks as the file is read.

    ``records`` reads the file's records (JSON Lines: its lines) and ``read_record`` puts each
    into the collector. Counts (``skipped``, ``filtered``) are final only once ``chunks`` is
    exhausted. Only the first ``SKIPPED_KEPT`` skipped pairs are kept with their reasons; all
    are counted.
    """

    SKIPPED_KEPT = 1_000

    source: BinaryIO
    read_record: RecordReader
    collector: PairCollector
    filtered_reason: str | None = None
    filtered: int = 0
    skipped_count: int = 0
    skipped: list[SkippedPair] = field(default_factory=list)
    indicator: str | None = None
    session: int | None = None
    category: str | None = None
    source_database: str | None = None
    records: Records = json_line_records

    def chunks(self, size: int) -> Iterator[list[QAPair]]:
        """Chunks of at most ``size`` pairs; then StreamRejected if no pair was usable."""
        delivered_pairs = 0
        collector = self.collector
        position = 0
        for number, record in self.records(self.source):
            position += 1
            if self.read_record(collector, record, position, number):
                self.filtered += 1
            self._keep_skipped()
            while len(collector.pairs) >= size:  # one record may bring many (an export session)
                chunk, collector.pairs = collector.pairs[:size], collector.pairs[size:]
                delivered_pairs += len(chunk)
                yield chunk
        self._keep_skipped()
        if collector.pairs:
            chunk, collector.pairs = collector.pairs, []
            delivered_pairs += len(chunk)
            yield chunk
        if position == 0:
            raise StreamRejected(
                Rejected(f"no records: the file is empty; expected {EXPECTED_LINE}")
            )
        if not delivered_pairs and not self.filtered and self.skipped_count:
            collector.pairs, collector.skipped = [], self.skipped
            rejection = collector.no_usable_pair(total=self.skipped_count)
            if rejection is not None:
                raise StreamRejected(rejection)

    def _keep_skipped(self) -> None:
        """Move the collector's skipped pairs here: counted, the first ones kept."""
        skipped = self.collector.skipped
        if skipped:
            self.skipped_count += len(skipped)
            room = self.SKIPPED_KEPT - len(self.skipped)
            if room > 0:
                self.skipped.extend(skipped[:room])
            skipped.clear()


# --------------------------------------------------------------------------- JSON documents

_CHUNK = 1 << 16  # what the streaming pass feeds yajl at most: a line, or this much of one
_CHECK_CHUNK = 1 << 20  # the checking pass keeps nothing: larger reads are faster
_JSON_SPACE = b" \t\r\n"
_STARTS = frozenset(("start_map", "start_array"))
_ENDS = frozenset(("end_map", "end_array"))
# bytes an escape (``\ud83d\ude00``) is made of: a read never ends among them
_ESCAPE_BYTES = frozenset(b"\\u0123456789abcdefABCDEF")
_SURROGATE_ESCAPE_RE = re.compile(rb"(\\+)u[dD]([89a-fA-F])[0-9a-fA-F]{2}")
_SURROGATE_START_RE = re.compile(rb"\\u[dD][89a-fA-F]")
_CHANGED = Rejected("the file changed while it was being read; expected it to stay as it was")


def opens_object(source: BinaryIO) -> bool:
    """Whether a file is UTF-8 (with or without a BOM) whose first non-blank character is ``{``.

    Reads a little from ``source`` and leaves it at the start again.
    """
    try:
        head = source.read(_CHUNK).removeprefix(codecs.BOM_UTF8)
        while head:
            text = head.lstrip(_JSON_SPACE)
            if text:
                return text.startswith(b"{")
            head = source.read(_CHUNK)
        return False
    finally:
        source.seek(0)


def _skip_bom(source: BinaryIO) -> None:
    source.seek(0)
    if source.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
        source.seek(0)


def _lone_surrogate(data: bytes) -> bool:
    """Whether a ``\\uD800``-``\\uDFFF`` escape in ``data`` is not half of a pair.

    A backslash that is itself escaped (an even run) starts no escape.
    """
    if b"\\" not in data or not _SURROGATE_START_RE.search(data):  # the usual: quick
        return False
    waiting = -1  # where a high half ended, waiting for its low half right there
    for match in _SURROGATE_ESCAPE_RE.finditer(data):
        if len(match.group(1)) % 2 == 0:
            continue
        high = match.group(2) in b"89abAB"
        if waiting >= 0:
            if high or match.start() != waiting or len(match.group(1)) != 1:
                return True
            waiting = -1
        elif high:
            waiting = match.end()
        else:
            return True
    return waiting >= 0


class _CheckedReader:
    """The bytes of a file as ijson reads them, watched for what yajl reads unlike orjson.

    yajl takes form feed and vertical tab for white space, and turns a lone surrogate escape
    into "?"; orjson rejects both. Either stops the reading (an early end) and marks the file
    ``irregular``. A read never ends inside an escape, so each is seen whole.
    """

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.held = b""
        self.irregular = False

    def read(self, size: int = _CHUNK) -> bytes:
        if size == 0 or self.irregular:
            return b""
        while True:
            data = self.source.read(size)
            if not data:
                chunk, self.held = self.held, b""
                break
            data = self.held + data if self.held else data
            cut = len(data)
            while cut and data[cut - 1] in _ESCAPE_BYTES:
                cut -= 1
            chunk, self.held = data[:cut], data[cut:]
            if chunk:
                break
        if b"\x0b" in chunk or b"\x0c" in chunk or _lone_surrogate(chunk):
            self.irregular = True
            return b""
        return chunk


def regular_document(source: BinaryIO, key: str) -> bool:
    """Whether a file can be streamed: one JSON object whose ``key`` is a non-empty list.

    It must also read exactly as orjson reads it: valid, nested at most ``MAX_DEPTH``
    deep, ``key`` present once, and nothing yajl and orjson read apart (integers beyond
    64 bits, lone surrogate escapes, form feed or vertical tab as white space). One pass of
    yajl over the file, keeping nothing; leaves ``source`` at the start.
    """
    _skip_bom(source)
    reader = _CheckedReader(source)
    depth = found = 0
    after_key = opened = False  # just after ``key``; just after its list opened
    try:
        for event, value in ijson.basic_parse(reader, use_float=True, buf_size=_CHECK_CHUNK):
            if after_key or opened:
                if (after_key and event != "start_array") or (opened and event == "end_array"):
                    return False
                after_key, opened = False, after_key
            if event in _STARTS:
                depth += 1
                if depth > MAX_DEPTH:
                    return False
            elif event in _ENDS:
                depth -= 1
            elif event == "map_key" and depth == 1 and value == key:
                found += 1
                after_key = True
        return found == 1 and not reader.irregular
    except (ijson.JSONError, ValueError):  # invalid JSON or UTF-8 (UnicodeDecodeError)
        return False
    finally:
        source.seek(0)


def list_elements(source: BinaryIO, key: str) -> Iterator[tuple[object, dict[JsonPath, int]]]:
    """The elements of the top-level object's ``key`` list, one at a time, with their lines.

    For a file ``regular_document`` accepted. The lines are those a whole read finds
    (``JsonDocument.line``): ``(key, i)`` where element ``i`` starts, ``(key, i, k, j)`` where
    element ``j`` of the list under its key ``k`` starts. The file is fed to yajl a line at a
    time (at most ``_CHUNK`` bytes), so each value is on the line being fed. A file that
    changed since it was checked raises ``StreamRejected``.
    """
    _skip_bom(source)
    reader = _ElementReader(key)
    try:
        yield from reader.elements(source)
    except (ijson.JSONError, ValueError):
        raise StreamRejected(_CHANGED) from None
    if reader.index == 0:
        raise StreamRejected(_CHANGED)


class _ElementReader:
    """Where ``list_elements`` is: in the document, in the list, or in an element it builds."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.line = 1
        self.depth = 0
        self.index = 0  # of the element being read
        self.at_key = False  # the value of ``key`` is next
        self.inside = False  # its list is being read
        self.stack: list[Any] = []  # the element being built: open containers, outermost first
        self.names: list[Any] = []  # the key being filled in each open object
        self.starts: dict[JsonPath, int] = {}  # the lines of the element being built

    def elements(self, source: BinaryIO) -> Iterator[tuple[object, dict[JsonPath, int]]]:
        """The elements with their lines; building them is inline, the rest in ``_outside``."""
        events = ijson.sendable_list()
        parser = ijson.basic_parse_coro(events, use_float=True)
        stack, names, key, starts = self.stack, self.names, self.key, self.starts
        for chunk in iter(functools.partial(source.readline, _CHUNK), b""):
            parser.send(chunk)
            for event, value in events:
                if not stack:  # between elements, or not in the list yet
                    if self._outside(event, value):
                        yield value, self.starts
                        self.index += 1
                    starts = self.starts
                    continue
                if event == "map_key":
                    names[-1] = value
                    continue
                if event in _ENDS:
                    element = stack.pop()
                    names.pop()
                    if not stack:
                        yield element, starts
                        self.index += 1
                    continue
                node = value if event not in _STARTS else {} if event == "start_map" else []
                parent = stack[-1]
                if type(parent) is list:
                    if len(stack) == 2 and type(stack[0]) is dict:
                        starts[(key, self.index, names[0], len(parent))] = self.line
                    parent.append(node)
                else:
                    parent[names[-1]] = node
                if event in _STARTS:
                    stack.append(node)
                    names.append(None)
            events.clear()
            self.line += chunk.endswith(b"\n")  # a line longer than a chunk ends later
        parser.close()

    def _outside(self, event: str, value: Any) -> bool:
        """An event outside any element: find the list, start an element, or leave the list.

        True when ``value`` is a whole element by itself (not a list or an object).
        """
        if self.inside:
            if event == "end_array":
                self.inside = False
                self.depth -= 1
                return False
            self.starts = {(self.key, self.index): self.line}
            if event not in _STARTS:
                return True
            self.stack.append({} if event == "start_map" else [])
            self.names.append(None)
        elif event == "map_key":
            self.at_key = self.depth == 1 and value == self.key
        elif event in _STARTS:
            self.depth += 1
            self.inside, self.at_key = self.at_key and event == "start_array", False
        elif event in _ENDS:
            self.depth -= 1
        return False
