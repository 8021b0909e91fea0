"""Large deliveries read as they go, so memory does not grow with the file.

A 1 GB RAG export read whole costs several GB of memory as text, parsed values and pairs.
Streamed, at most one chunk of pairs is alive at a time: the importer stores a chunk, then
asks for the next.

One path for every JSON shape (``read_layout``): an object holding its list (Q&A pairs under
any list key, an export's sessions), a bare list, or JSON Lines. A streamed file reads
exactly as ``jsonio.read_json_file`` reads it whole: the same shape is chosen (by the file's
name and content), the same records with the same lines, and the object's own members
(indicator, session...) known before its first record, wherever they stand in the file. So
the file is first checked in one quick pass that keeps nothing: every line of JSON Lines
parsed (orjson, as the whole read), or the document read by yajl (ijson, in C), which must
read it as orjson does. A file in UTF-16 or UTF-32 (with its BOM) is read through a UTF-8
view of it (``handlers.utf8view``); a key the top object has twice counts once, its last
value, as orjson keeps it. Any file that fails the check (invalid, or read apart by yajl and
orjson) is left to the whole read, so its rejection is word for word the whole read's. A
stream rejects a file only for a shape its top shows wrong (``refusing``, in the whole read's
words), for having no usable pair, or for changing while it is read (``StreamRejected``: the
pipeline rolls the file's one transaction back).
"""

from __future__ import annotations

import codecs
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import ijson

from handlers.contract import Rejected
from handlers.jsonio import MAX_DEPTH, JsonPath, LineRef, PairCollector, parse_json_line
from handlers.models import QAPair, SkippedPair
from handlers.utf8view import foreign_encoding, utf8_view

EXPECTED_LINE = "one JSON object a line"

# where a value of the record being read starts, by its path from the top (``JsonDocument``)
LineFinder = Callable[..., LineRef]
# (collector, record, position, lines) -> whether the record was deliberately left out
RecordReader = Callable[[PairCollector, object, int, LineFinder], bool]
# a file's records with their lines: JSON Lines' lines, or the elements of a document's list
Records = Callable[[BinaryIO], Iterator[tuple[LineFinder, object]]]


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
    """``(line number, value)`` for every non-blank line; raises ``StreamRejected``.

    Blank as the whole read sees it: white space by ``str.strip``, after decoding.
    """
    for number, raw in enumerate(source, 1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        text = _decode_line(raw.rstrip(b"\r\n"), number)
        if not text.strip():
            continue
        value = parse_json_line(text, number, expected=EXPECTED_LINE)
        if isinstance(value, Rejected):
            raise StreamRejected(value)
        yield number, value


def _all_lines_parse(source: BinaryIO, at_least: int) -> bool:
    """Whether every line is JSON (and at least ``at_least`` are not blank); a checking pass."""
    source.seek(0)
    count = 0
    try:
        for _ in json_line_records(source):
            count += 1
    except (StreamRejected, UnicodeDecodeError):  # the latter: not UTF-16 through and through
        return False
    finally:
        source.seek(0)
    return count >= at_least


def _line_number(number: int, *path: str | int) -> int:
    return number


def _line_records(source: BinaryIO) -> Iterator[tuple[LineFinder, object]]:
    """JSON Lines as records: each value's line is its record's line."""
    source.seek(0)
    try:
        for number, value in json_line_records(source):
            yield functools.partial(_line_number, number), value
    except UnicodeDecodeError:  # through a UTF-8 view: it decoded when it was checked
        raise StreamRejected(_CHANGED) from None


_ELIDED: list[object] = [...]  # stands for a list that is not empty


@dataclass(frozen=True)
class Layout:
    """How a file that streams exactly as it reads whole holds its records.

    ``value`` stands in for the file's JSON value, for the handler's own shape rules: the top
    object with its members (a list among them holds ``...`` when it is not empty, an object
    is empty), a list (``[...]`` when not empty), or JSON Lines' list of records.
    """

    value: object
    json_lines: bool
    encoding: str | None = None  # UTF-16 or UTF-32 (read through a UTF-8 view); None: UTF-8
    key_counts: Mapping[str, int] = field(default_factory=dict)  # the top object's keys

    def records(self, path: JsonPath) -> Records:
        """The records of the list at ``path`` (``()``: the top list, or JSON Lines)."""
        if self.json_lines:
            read: Records = _line_records
        else:  # under a key written twice, the last list, as orjson keeps it
            last = self.key_counts.get(str(path[0]), 1) if path else 1
            read = functools.partial(_document_records, path=path, occurrence=last)
        return read if self.encoding is None else _through_view(read, self.encoding)


def _through_view(read: Records, encoding: str) -> Records:
    def records(source: BinaryIO) -> Iterator[tuple[LineFinder, object]]:
        return read(utf8_view(source, encoding))

    return records


def read_layout(source: BinaryIO, name: str, *, json_lines: bool = True) -> Layout | None:
    """How to stream a file so it reads as ``read_json_file`` reads it whole; None: read it whole.

    As there: a ``.jsonl`` name is JSON Lines first, then one document; any other name one
    document first, then (``json_lines``) JSON Lines of more than one line. Leaves ``source``
    at the start.
    """
    source.seek(0)
    encoding = foreign_encoding(source.read(4))
    try:
        return _layout(utf8_view(source, encoding), encoding, name, json_lines=json_lines)
    finally:
        source.seek(0)


def _layout(text: BinaryIO, encoding: str | None, name: str, *, json_lines: bool) -> Layout | None:
    """``read_layout`` on the file's UTF-8 bytes (``text``)."""
    text.seek(0)
    lines_named = json_lines and name.lower().endswith(".jsonl")
    if lines_named and _all_lines_parse(text, at_least=1):
        return Layout(list(_ELIDED), json_lines=True, encoding=encoding)
    top = _document_top(text)
    if top is not None:
        return Layout(top.value, json_lines=False, encoding=encoding, key_counts=top.key_counts)
    if json_lines and not lines_named and _all_lines_parse(text, at_least=2):
        return Layout(list(_ELIDED), json_lines=True, encoding=encoding)
    return None


@dataclass
class QAStream:
    """Pairs of one large file, handed out in chunks as the file is read.

    ``records`` reads the file's records and ``read_record`` puts each into the collector.
    Counts (``skipped``, ``filtered``) are final only once ``chunks`` is exhausted. Only the
    first ``SKIPPED_KEPT`` skipped pairs are kept with their reasons; all are counted.
    """

    SKIPPED_KEPT = 1_000

    source: BinaryIO
    read_record: RecordReader
    collector: PairCollector
    records: Records
    filtered_reason: str | None = None
    filtered: int = 0
    skipped_count: int = 0
    skipped: list[SkippedPair] = field(default_factory=list)
    indicator: str | None = None
    session: int | None = None
    category: str | None = None
    source_database: str | None = None

    def chunks(self, size: int) -> Iterator[list[QAPair]]:
        """Chunks of at most ``size`` pairs; then StreamRejected if no pair was usable."""
        delivered_pairs = 0
        collector = self.collector
        position = 0
        for lines, record in self.records(self.source):
            position += 1
            if self.read_record(collector, record, position, lines):
                self.filtered += 1
            self._keep_skipped()
            while len(collector.pairs) >= size:  # one record may bring many (an export session)
                chunk, collector.pairs = collector.pairs[:size], collector.pairs[size:]
                delivered_pairs += len(chunk)
                yield chunk
                del chunk  # not held while the next is read: one chunk alive at a time
        self._keep_skipped()
        if collector.pairs:
            chunk, collector.pairs = collector.pairs, []
            delivered_pairs += len(chunk)
            yield chunk
        if position == 0:
            raise StreamRejected(_CHANGED)  # it had records when it was checked
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


def refusing(source: BinaryIO, rejection: Rejected) -> QAStream:
    """The stream of a file its top alone shows to be of the wrong shape: reading it rejects
    it (``StreamRejected``), before any record is parsed.

    ``rejection`` is the handler's shape rule applied to ``Layout.value``, whose members are
    the file's own in kind and order, so its wording is the whole read's; and a valid 1 GB
    file under the wrong key is not parsed whole (several GB) only to be told so.
    """

    def records(_: BinaryIO) -> Iterator[tuple[LineFinder, object]]:
        raise StreamRejected(rejection)

    return QAStream(source, _no_record, PairCollector(), records)


def _no_record(collector: PairCollector, record: object, position: int, lines: LineFinder) -> bool:
    return False  # never called: ``refusing``'s records end before the first


# --------------------------------------------------------------------------- JSON documents

_CHUNK = 1 << 16  # what the streaming pass feeds yajl at most: a line, or this much of one
_CHECK_CHUNK = 1 << 20  # the checking pass keeps nothing: larger reads are faster
_STARTS = frozenset(("start_map", "start_array"))
_ENDS = frozenset(("end_map", "end_array"))
# bytes an escape (``\ud83d\ude00``) is made of: a read never ends among them
_ESCAPE_BYTES = frozenset(b"\\u0123456789abcdefABCDEF")
_SURROGATE_ESCAPE_RE = re.compile(rb"(\\+)u[dD]([89a-fA-F])[0-9a-fA-F]{2}")
_SURROGATE_START_RE = re.compile(rb"\\u[dD][89a-fA-F]")
_ESCAPED_QUOTE_RE = re.compile(rb'(\\+)"')
_CHANGED = Rejected("the file changed while it was being read; expected it to stay as it was")


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
    ``irregular``. yajl also lets a string left open at the very end pass after the document
    (``[1] "abc``): ``quotes`` counts the quotes that are not escaped, odd then. A read never
    ends inside an escape or a run of backslashes, so each is seen whole.
    """

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.held = b""
        self.irregular = False
        self.quotes = 0

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
            if b"\\" not in data[cut:]:  # ends in letters or digits, not an escape: no copy
                cut = len(data)
            chunk, self.held = data[:cut], data[cut:]
            if chunk:
                break
        if b"\x0b" in chunk or b"\x0c" in chunk or _lone_surrogate(chunk):
            self.irregular = True
            return b""
        self.quotes += chunk.count(b'"')
        # an escaped quote is no quote: after an odd run of backslashes (a lone backslash is
        # looked for first: memchr, where the two-byte search was a third of this pass)
        if b"\\" in chunk and b'\\"' in chunk:
            self.quotes -= sum(len(m.group(1)) % 2 for m in _ESCAPED_QUOTE_RE.finditer(chunk))
        return chunk


def _document_top(source: BinaryIO) -> _Top | None:
    """The top of a file's one JSON document (``_Top.value``: ``Layout.value``); None: read
    it whole.

    None unless yajl reads the document exactly as orjson reads it: valid, nested at most
    ``MAX_DEPTH`` deep, and nothing yajl and orjson read apart (lone surrogate escapes, form
    feed or vertical tab as white space, a string left open at the end); and it must be an
    object or a list (a lone scalar is no file of pairs). One pass of yajl keeping only the
    top's members; leaves ``source`` at the start.
    """
    reader = _CheckedReader(source)
    top = _Top()
    try:
        _skip_bom(source)
        for event, value in ijson.basic_parse(reader, use_float=True, buf_size=_CHECK_CHUNK):
            if not top.take(event, value):
                return None
        open_string = reader.quotes % 2  # left open after the document: orjson refuses it
        return None if reader.irregular or open_string or top.value is None else top
    except (ijson.JSONError, ValueError):  # invalid JSON or UTF-8 (UnicodeDecodeError)
        return None
    finally:
        source.seek(0)


class _Top:
    """The top of a document being checked, built from yajl's events as its stand-in."""

    def __init__(self) -> None:
        self.value: object = None  # the top object's ``members``, or the top list's stand-in
        self.members: dict[str, object] = {}
        self.key_counts: Counter[str] = Counter()  # how often each key of the top object is met
        self.depth = 0
        self.member: str | None = None  # the top object's key whose value is next
        self.opened: list[object] | None = None  # a stand-in list just opened

    def take(self, event: str, value: Any) -> bool:
        """One event; False when the document cannot be streamed as orjson reads it."""
        if self.opened is not None:
            if event != "end_array":  # not empty
                self.opened.extend(_ELIDED)
            self.opened = None
        if event in _STARTS:
            return self._open(event)
        if event in _ENDS:
            self.depth -= 1
        elif event == "map_key" and self.depth == 1:
            self.key_counts[value] += 1  # a key met again: its last value wins, where the first
            self.member = value  # stood (orjson's dict, like any dict)
        elif self.member is not None:
            self.members[self.member], self.member = value, None
        return True

    def _open(self, event: str) -> bool:
        self.depth += 1
        stand_in: dict[str, object] | list[object]
        if self.depth == 1:
            stand_in = self.members if event == "start_map" else []
            self.value = stand_in
        elif self.member is not None:  # a member of the top object: an empty stand-in
            stand_in = {} if event == "start_map" else []
            self.members[self.member], self.member = stand_in, None
        else:
            return self.depth <= MAX_DEPTH
        self.opened = stand_in if isinstance(stand_in, list) else None
        return True


class _Lines:
    """Where the streamed element's values start, handed out as ``JsonDocument`` hands them out.

    A line is a callable until a reason has asked for one, and an int from then on (so the
    pairs read after a skipped one carry theirs, as in a whole read).
    """

    def __init__(self) -> None:
        self.starts: dict[JsonPath, int] = {}
        self.asked = False

    def line(self, *path: str | int) -> int | None:
        self.asked = True
        return self.starts.get(path)

    def line_ref(self, *path: str | int) -> LineRef:
        return self.starts.get(path) if self.asked else functools.partial(self.line, *path)


def _document_records(
    source: BinaryIO, path: JsonPath, occurrence: int = 1
) -> Iterator[tuple[LineFinder, object]]:
    """The elements of the document's list at ``path``, each with the lines of its values."""
    lines = _Lines()
    for value, starts in list_elements(source, path, occurrence):
        lines.starts = starts
        yield lines.line_ref, value


def list_elements(
    source: BinaryIO, path: JsonPath, occurrence: int = 1
) -> Iterator[tuple[object, dict[JsonPath, int]]]:
    """The elements of the list at ``path`` (``()``: the top list, ``(key,)``: the top object's
    value under the ``occurrence``-th time its key is written), one at a time, with their lines.

    For a file ``read_layout`` took as a document. The lines are those a whole read finds
    (``JsonDocument.line``): ``(*path, i)`` where element ``i`` starts, ``(*path, i, k, j)``
    where element ``j`` of the list under its key ``k`` starts. The file is fed to yajl a line
    at a time (at most ``_CHUNK`` bytes), so each value is on the line being fed. A file that
    changed since it was checked raises ``StreamRejected``.
    """
    reader = _ElementReader(path, occurrence)
    try:
        _skip_bom(source)
        yield from reader.elements(source)
    except (ijson.JSONError, ValueError):
        raise StreamRejected(_CHANGED) from None
    if reader.index == 0:
        raise StreamRejected(_CHANGED)


class _ElementReader:
    """Where ``list_elements`` is: in the document, in the list, or in an element it builds."""

    def __init__(self, path: JsonPath, occurrence: int = 1) -> None:
        self.path = path  # () or (key,)
        self.key = path[0] if path else None
        self.occurrence = occurrence  # which time ``key`` is written holds the list
        self.key_seen = 0
        self.line = 1
        self.depth = 0
        self.index = 0  # of the element being read
        self.at_key = not path  # the list is next: the top one, or the value of ``key``
        self.inside = False  # its list is being read
        self.stack: list[Any] = []  # the element being built: open containers, outermost first
        self.names: list[Any] = []  # the key being filled in each open object
        self.starts: dict[JsonPath, int] = {}  # the lines of the element being built

    def elements(self, source: BinaryIO) -> Iterator[tuple[object, dict[JsonPath, int]]]:
        """The elements with their lines; building them is inline, the rest in ``_outside``."""
        events = ijson.sendable_list()
        parser = ijson.basic_parse_coro(events, use_float=True)
        stack, names, path, starts = self.stack, self.names, self.path, self.starts
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
                        starts[(*path, self.index, names[0], len(parent))] = self.line
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
            self.starts = {(*self.path, self.index): self.line}
            if event not in _STARTS:
                return True
            self.stack.append({} if event == "start_map" else [])
            self.names.append(None)
        elif event == "map_key":
            self.at_key = False
            if self.depth == 1 and value == self.key:
                self.key_seen += 1
                self.at_key = self.key_seen == self.occurrence
        elif event in _STARTS:
            self.depth += 1
            self.inside, self.at_key = self.at_key and event == "start_array", False
        elif event in _ENDS:
            self.depth -= 1
        return False
