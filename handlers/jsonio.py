"""Shared JSON reading for the Q&A handlers: documents, JSON Lines, and the PAIR rules.

One module decides what a JSON pair looks like (docs/formats.md, "PAIR"), so the Q&A, RAG
export and multi-session export handlers agree on keys, positions and the wording of their
reasons.
Everything here is pure and never raises for any text.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from handlers.contract import Rejected
from handlers.models import QABatch, QAPair, SkippedPair
from handlers.text import BOMS, clean_indicator, decode_text, line_column

MAX_DEPTH = 64  # deeper than any Q&A file needs; refused before orjson sees the text

QUESTION_KEYS = ("question", "q", "prompt", "instruction")
ANSWER_KEYS = ("answer", "a", "response", "completion", "output")
INDICATOR_KEYS = ("indicator", "indicator_name", "topic")
SESSION_KEYS = ("session", "session_id", "session_number")
CATEGORY_KEYS = ("category",)
DIFFICULTY_KEYS = ("difficulty", "difficulty_level")
LIST_KEYS = ("qa_pairs", "pairs", "questions", "data", "items")

_MAX_SESSION = 2**31 - 1  # what an INTEGER column holds everywhere
_SESSION_TEXT_RE = re.compile(r"^(?:session[\s_-]*)?0*(\d{1,10})$", re.IGNORECASE)

JsonPath = tuple[str | int, ...]  # where a value sits: keys and indexes from the top
# names the pair (or session) a path into a document is in, for a reason: "pair 3"; None: none
PlaceNamer = Callable[[JsonPath], str | None]
_BOM_STARTS = tuple(bom for bom, _ in BOMS)


# --------------------------------------------------------------------------- reading JSON


class JsonDocument:
    """A parsed JSON text, with the line where each list element near the top starts.

    Lines let a skipped pair say where it is; they are kept for elements of lists at most
    ``line_depth`` levels down (paths like ``(3,)`` or ``("sessions", 0, "qa_pairs", 2)``).
    Finding them costs a pass over the whole text, so it is done on the first question:
    most files have no skipped pair and never ask.
    """

    def __init__(
        self,
        value: object,
        starts: Mapping[JsonPath, int] | None = None,
        *,
        json_lines: bool = False,
        text: str | bytes = "",
        line_depth: int = 0,
    ) -> None:
        self.value = value
        self.json_lines = json_lines
        self._starts = starts
        self._text = text
        self._line_depth = line_depth

    def line(self, *path: str | int) -> int | None:
        """1-based line where the value at ``path`` starts, when known."""
        if self._starts is None:
            text = self._text
            if isinstance(text, bytes):  # parsed from bytes: known to be valid UTF-8
                text = text.decode("utf-8")
            offsets = _scan(text, self._line_depth).offsets
            newlines = _line_starts(text)
            self._starts = {key: _line_of(newlines, at) for key, at in offsets.items()}
            self._text = ""
        return self._starts.get(path)

    def line_ref(self, *path: str | int) -> LineRef:
        """The line when already known, else a way to find it if a reason needs it."""
        if self._starts is not None:
            return self._starts.get(path)
        return functools.partial(self.line, *path)


LineRef = int | None | Callable[[], int | None]


def resolve_line(line: LineRef) -> int | None:
    return line() if callable(line) else line


_TOKEN_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{},:]|[^\s\[\]{},:"]+', re.DOTALL)


@dataclass(slots=True)
class _Frame:
    """An open container while scanning: its current key or index, and whether a key is next."""

    is_object: bool
    key: str | int
    expect_key: bool

    def next_item(self) -> None:
        """After a comma: an object's next key, or a list's next index."""
        if self.is_object:
            self.expect_key = True
        elif isinstance(self.key, int):
            self.key += 1


class _Scanned(NamedTuple):
    offsets: dict[JsonPath, int]  # where list elements start (character offsets)
    deep_at: int | None  # the first bracket that opens level ``MAX_DEPTH + 1``
    open_at: JsonPath | None  # the keys and indexes of the containers open at ``stop``


def _scan(text: str, line_depth: int, stop: int | None = None) -> _Scanned:
    """One cheap pass over the tokens: where list elements start, where nesting is too deep,
    and (``stop``, a character offset: where orjson found a fault) what is open there.

    Tolerant of broken JSON (orjson reports that properly afterwards). ``offsets`` holds the
    elements whose path is at most ``line_depth`` long; ``deep_at`` is None when the text is
    shallow enough (the scan ends there otherwise).
    """
    offsets: dict[JsonPath, int] = {}
    stack: list[_Frame] = []
    never = len(text) + 1
    limit = never if stop is None else stop
    open_at: JsonPath | None = None
    for match in _TOKEN_RE.finditer(text):
        start = match.start()
        if start >= limit:
            open_at, limit = tuple(frame.key for frame in stack), never
        char = text[start]
        top = stack[-1] if stack else None
        if char in _PUNCTUATION:
            _punctuation(stack, char)
        elif top is not None and top.expect_key:
            if char == '"':
                top.key, top.expect_key = _key_text(match.group()), False
        else:
            if top is not None and not top.is_object and len(stack) <= line_depth:
                offsets[tuple(frame.key for frame in stack)] = start
            if char in "[{":
                if len(stack) >= MAX_DEPTH:
                    return _Scanned(offsets, start, open_at)
                stack.append(_Frame(char == "{", "" if char == "{" else 0, char == "{"))
    if stop is not None and open_at is None:  # at the end: what was left open
        open_at = tuple(frame.key for frame in stack)
    return _Scanned(offsets, None, open_at)


_PUNCTUATION = frozenset("]},:")


def _punctuation(stack: list[_Frame], char: str) -> None:
    """A closing bracket ends its container; a comma moves it on; a colon says nothing."""
    if char in "]}":
        if stack:
            stack.pop()
    elif char == "," and stack:
        stack[-1].next_item()


def _key_text(token: str) -> str:
    """An object key as written, unescaped when it has escapes."""
    if "\\" not in token:
        return token[1:-1]
    try:
        key = orjson.loads(token)
    except orjson.JSONDecodeError:
        return token[1:-1]
    return key if isinstance(key, str) else token[1:-1]


def _line_starts(text: str) -> list[int]:
    return [m.start() for m in re.finditer("\n", text)]


def _line_of(newlines: list[int], offset: int) -> int:
    return bisect.bisect_left(newlines, offset) + 1


def _too_deep(text: str, offset: int, expected: str, where: str = "") -> Rejected:
    line, column = line_column(text, offset)
    return Rejected(
        f"JSON nested more than {MAX_DEPTH} levels deep{where}; expected {expected}",
        line,
        column,
    )


def _decode_error(exc: orjson.JSONDecodeError, expected: str, where: str = "") -> Rejected:
    what = exc.msg
    if "end of data" in what:
        what += " (the text stops in the middle of a value: cut off while being written?)"
    reason = f"invalid JSON{where}: {what}"
    if not re.search(r"\bexpected\b", exc.msg):
        reason += f"; expected {expected}"
    return Rejected(reason, exc.lineno, exc.colno)


def load_document(
    text: str,
    *,
    expected: str = "one well-formed JSON document",
    line_depth: int = 2,
    place: PlaceNamer | None = None,
) -> JsonDocument | Rejected:
    """Parse one JSON document with orjson, refusing deep nesting first, keeping element lines.

    ``place`` names the pair a fault is at: in a file that is one long line, the column alone
    does not help a person find it.
    """
    if not text.strip():
        return Rejected(f"the file is empty; expected {expected}")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        scanned = _scan(text, 0, exc.pos)  # too deep first: orjson itself stops at 1,024 levels
        if scanned.deep_at is not None:
            return _too_deep(text, scanned.deep_at, expected)
        named = place(scanned.open_at or ()) if place is not None else None
        return _decode_error(exc, expected, f" at {named}" if named else "")
    # nesting needs as many brackets: counting them (in C) spares most files the walk
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth_over(value, MAX_DEPTH):
        return _too_deep(text, _scan(text, 0).deep_at or 0, expected)
    return JsonDocument(value, text=text, line_depth=line_depth)


def _depth_over(value: object, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (a walk of the parsed value: far
    cheaper than tokenizing the text, which is left for the rare file that is too deep)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[dict[object, object] | list[object], int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        for child in current.values() if isinstance(current, dict) else current:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def load_json(text: str, *, expected: str = "one well-formed JSON document") -> object | Rejected:
    """One JSON value, or the reason it is not one (with line and column)."""
    doc = load_document(text, expected=expected, line_depth=0)
    return doc if isinstance(doc, Rejected) else doc.value


def parse_json_line(
    line: str, number: int, *, expected: str = "one JSON object a line"
) -> object | Rejected:
    """One line of JSON Lines, or the reason it is not one (line ``number``, its column)."""
    where = f" on line {number}"
    if line.count("[") + line.count("{") > MAX_DEPTH:  # only then can it be too deep
        deep_at = _scan(line, 0).deep_at
        if deep_at is not None:
            too_deep = _too_deep(line, deep_at, expected, where)
            return Rejected(too_deep.reason, number, too_deep.column)
    try:
        value: object = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        bad = _decode_error(exc, expected, where)
        return Rejected(bad.reason, number, exc.colno)
    return value


def iter_json_lines(
    text: str, *, expected: str = "one JSON object a line"
) -> list[tuple[int, object]] | Rejected:
    """JSON Lines: ``(line number, value)`` for every non-blank line; CRLF and blank lines allowed.

    Only ``\\n`` ends a line: U+2028 and friends are legal inside JSON strings.
    """
    records: list[tuple[int, object]] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        value = parse_json_line(line, number, expected=expected)
        if isinstance(value, Rejected):
            return value
        records.append((number, value))
    return records


def load_json_lines(
    text: str, *, expected: str = "one JSON object a line"
) -> JsonDocument | Rejected:
    """JSON Lines as a document: a list of the records, each element's line known."""
    records = iter_json_lines(text, expected=expected)
    if isinstance(records, Rejected):
        return records
    starts: dict[JsonPath, int] = {(i,): number for i, (number, _) in enumerate(records)}
    return JsonDocument([value for _, value in records], starts, json_lines=True)


def load_records(
    text: str, name: str, *, expected: str, place: PlaceNamer | None = None
) -> JsonDocument | Rejected:
    """One JSON document, or JSON Lines: by a ``.jsonl`` name, or a ``.json`` whose lines parse.

    Each way falls back to the other, since agents mix up the extensions; when both fail the
    reason is the one for the kind the name promised.
    """
    if name.lower().endswith(".jsonl"):
        lines = load_json_lines(text)
        if not isinstance(lines, Rejected):
            return lines
        doc = load_document(text, expected=expected, place=place)
        return lines if isinstance(doc, Rejected) else doc
    doc = load_document(text, expected=expected, place=place)
    if isinstance(doc, Rejected) and "\n" in text.strip():
        lines = load_json_lines(text)
        if isinstance(lines, JsonDocument) and len(lines.value) > 1:  # type: ignore[arg-type]
            return lines
    return doc


def read_json_file(
    data: bytes,
    name: str,
    *,
    empty: str,
    expected: str,
    line_depth: int = 2,
    json_lines: bool = True,
    place: PlaceNamer | None = None,
) -> JsonDocument | Rejected:
    """A delivered JSON file: decoded, refused when empty (``empty`` says what of), parsed.

    A plain UTF-8 document is parsed straight from its bytes (no decoded copy of the text is
    made: for a 40 MB export that copy is 40 MB more memory); anything else, and every
    fault, takes the decoding path, whose reasons name the place. ``json_lines``: the file
    may also be JSON Lines (``load_records``). ``place``: as in ``load_document``.
    """
    if not name.lower().endswith(".jsonl") and not data.startswith(_BOM_STARTS):
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the decoding path says what is wrong, and where
        else:
            if not _depth_over(value, MAX_DEPTH):
                return JsonDocument(value, text=data, line_depth=line_depth)
    text = decode_text(data)
    if isinstance(text, Rejected):
        return text
    if not text.strip():
        return Rejected(f"{empty}: the file is empty; expected {expected}")
    if json_lines:
        return load_records(text, name, expected=expected, place=place)
    return load_document(text, expected=expected, line_depth=line_depth, place=place)


def pair_place(path: JsonPath) -> str | None:
    """``pair N`` for a path into the top list, or into a list under one of ``LIST_KEYS``."""
    if path and isinstance(path[0], str) and path[0] in LIST_KEYS:
        path = path[1:]
    return f"pair {path[0] + 1}" if path and isinstance(path[0], int) else None


# --------------------------------------------------------------------------- describing values


def kind_of(value: object) -> str:
    """What a JSON value is, for a reason: ``a list``, ``an object``, ``a number``."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def keys_found(obj: Mapping[str, object], limit: int = 10) -> str:
    """The keys of an object, shortened, for "found keys ..." in a reason."""
    keys = [_short(str(k)) for k in obj]
    if not keys:
        return "none (an empty object)"
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _quote(value: object) -> str:
    if isinstance(value, str):
        return '"' + _short(value) + '"'
    return _short(orjson.dumps(value).decode()) if _dumpable(value) else kind_of(value)


def _dumpable(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


# --------------------------------------------------------------------------- field values


class Invalid(NamedTuple):
    """A field that is present but cannot be used; ``message`` says what and what was expected."""

    message: str


def first_present(record: Mapping[str, object], keys: Iterable[str]) -> tuple[str | None, object]:
    """The first of ``keys`` present with a non-null value, and that value."""
    for key in keys:
        value = record.get(key)
        if value is not None:
            return key, value
    return None, None


def text_field(record: Mapping[str, object], keys: tuple[str, ...]) -> str | Invalid | None:
    """Optional text (numbers are accepted and written as text); empty means absent.

    A list, an object or a boolean is Invalid.
    """
    key, value = first_present(record, keys)
    if key is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return Invalid(f"{key} is {kind_of(value)}; expected text")


def session_number(value: object) -> int | None:
    """A session number from 45, 2.0, "45", "02" or "session_02"; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if 0 <= value <= _MAX_SESSION else None
    if isinstance(value, str):
        match = _SESSION_TEXT_RE.match(value.strip())
        if match:
            number = int(match.group(1))
            return number if number <= _MAX_SESSION else None
    return None


def session_field(record: Mapping[str, object]) -> int | Invalid | None:
    """The session under any of its aliases; Invalid when it is not a session number."""
    key, value = first_present(record, SESSION_KEYS)
    if key is None or (isinstance(value, str) and not value.strip()):
        return None
    number = session_number(value)
    if number is None:
        return Invalid(f'{key} is {_quote(value)}; expected a session number like 2 or "02"')
    return number


@dataclass(frozen=True)
class Meta:
    """What a pair, a file or an export session says about where its pairs belong."""

    indicator: str | None = None
    session: int | None = None
    category: str | None = None

    def over(self, base: Meta) -> Meta:
        """These values, with ``base`` filling what is missing."""
        return Meta(
            self.indicator if self.indicator is not None else base.indicator,
            self.session if self.session is not None else base.session,
            self.category if self.category is not None else base.category,
        )


_META_KEYS = frozenset((*INDICATOR_KEYS, *SESSION_KEYS, *CATEGORY_KEYS))
_NO_META = Meta()


def read_meta(record: Mapping[str, object]) -> Meta | Invalid:
    """Indicator, session and category from an object, by their aliases.

    ``SMA (Simple Moving Average)`` is stored as ``SMA``, as assignments list it.
    """
    if record.keys().isdisjoint(_META_KEYS):  # most pairs say nothing of it: one set test
        return _NO_META
    indicator = text_field(record, INDICATOR_KEYS)
    if isinstance(indicator, Invalid):
        return indicator
    session = session_field(record)
    if isinstance(session, Invalid):
        return session
    category = text_field(record, CATEGORY_KEYS)
    if isinstance(category, Invalid):
        return category
    cleaned = clean_indicator(indicator) if indicator else ""
    return Meta(cleaned or None, session, category)


# --------------------------------------------------------------------------- pairs

_ANSWER_EXPECTED = f"one of {', '.join(ANSWER_KEYS)}, or chat messages"


class _Missing(NamedTuple):
    detail: str  # "no answer", 'an empty answer (under "a")'


class _Skip(NamedTuple):
    problem: str  # groups skipped pairs in a file's summary: "without an answer"
    pair: SkippedPair


def _chat(record: Mapping[str, object]) -> tuple[str | None, str | None]:
    """First user message and the first assistant message after it, from ``messages``."""
    messages = record.get("messages")
    if not isinstance(messages, list):
        return None, None
    question = answer = None
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        role = role.lower() if isinstance(role, str) else None
        if question is None and role == "user":
            question = _content(message.get("content"))
        elif question is not None and role == "assistant":
            answer = _content(message.get("content"))
            break
    return question, answer


def _content(content: object) -> str | None:
    """Message content: a string, or a list of text parts (``{"type": "text", "text": ...}``)."""
    if isinstance(content, str):
        return content.strip() or None
    if isinstance(content, list):
        parts = [
            part if isinstance(part, str) else part.get("text")
            for part in content
            if isinstance(part, str | dict)
        ]
        joined = "\n".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
        return joined or None
    return None


def _side(
    record: Mapping[str, object], keys: tuple[str, ...], chat: str | None, noun: str, role: str
) -> str | _Missing:
    """The question or the answer, or what is wrong with it."""
    key, value = first_present(record, keys)
    article = "an" if noun[0] in "aeiou" else "a"
    if key is None:
        if chat is not None:
            return chat
        if isinstance(record.get("messages"), list):
            return _Missing(f"no {noun}: messages has no {role} message")
        return _Missing(f"no {noun}")
    if not isinstance(value, str):
        return _Missing(f'{article} {noun} in "{key}" that is {kind_of(value)}')
    if not value.strip():
        return _Missing(f'an empty {noun} in "{key}"')
    return value.strip()


def _missing_side(
    record: Mapping[str, object],
    label: str,
    question: str | _Missing,
    answer: str | _Missing,
    question_expected: str,
) -> tuple[str, str]:
    """The problem and the reason of a pair without its question, its answer, or both."""
    found = keys_found(record)
    if isinstance(question, _Missing) and isinstance(answer, _Missing):
        return (
            "without a question or an answer",
            f"{label} has {question.detail} and {answer.detail} (keys found: {found}; "
            f"expected a question under {question_expected} "
            f"and an answer under {_ANSWER_EXPECTED})",
        )
    if isinstance(question, _Missing):
        return (
            "without a question",
            f"{label} has {question.detail} (keys found: {found}; expected {question_expected})",
        )
    assert isinstance(answer, _Missing)
    return (
        "without an answer",
        f"{label} has {answer.detail} (keys found: {found}; expected {_ANSWER_EXPECTED})",
    )


def _skip(position: int, line: LineRef, problem: str, reason: str) -> _Skip:
    skipped = SkippedPair(position=position, line=resolve_line(line), reason=reason)
    return _Skip(problem, skipped)


def _read_pair(
    record: object,
    position: int,
    line: LineRef,
    question_keys: tuple[str, ...] = QUESTION_KEYS,
    overrides: Meta | None = None,
    defaults: Meta | None = None,
) -> QAPair | _Skip:
    """One pair; ``overrides`` beat its own metadata, which beats ``defaults``.

    The reasons are worded only for a pair that is skipped: this runs for every pair."""
    if not isinstance(record, dict):
        reason = f"pair {position} is {kind_of(record)}, expected an object"
        return _skip(position, line, "not an object", reason)
    chat_question, chat_answer = _chat(record)
    question = _side(record, question_keys, chat_question, "question", "user")
    answer = _side(record, ANSWER_KEYS, chat_answer, "answer", "assistant")
    if isinstance(question, _Missing) or isinstance(answer, _Missing):
        expected = f"one of {', '.join(question_keys)}, or chat messages"
        problem = _missing_side(record, f"pair {position}", question, answer, expected)
        return _skip(position, line, *problem)
    extra = text_field(record, ("input",)) if first_present(record, question_keys)[0] else None
    difficulty = text_field(record, DIFFICULTY_KEYS)
    source_id = text_field(record, ("id",))
    meta = read_meta(record)
    if (
        isinstance(extra, Invalid)
        or isinstance(difficulty, Invalid)
        or isinstance(source_id, Invalid)
        or isinstance(meta, Invalid)
    ):
        first = next(f for f in (extra, difficulty, source_id, meta) if isinstance(f, Invalid))
        reason = f"pair {position} cannot be used: {first.message}"
        return _skip(position, line, "with an unusable field", reason)
    if overrides is not None:
        meta = overrides.over(meta)
    if defaults is not None:
        meta = meta.over(defaults)
    return QAPair(
        question=f"{question}\n{extra}" if extra else question,
        answer=answer,
        position=position,
        line=line if isinstance(line, int) else None,
        indicator=meta.indicator,
        session=meta.session,
        category=meta.category,
        difficulty=difficulty,
        source_id=source_id,
    )


def pair_from_record(record: object, position: int, line: int | None) -> QAPair | SkippedPair:
    """One PAIR by docs/formats.md's rules, or the reason it cannot be used (what, where, expected).

    The pair carries only its own metadata; a file's defaults are applied by ``PairCollector``.
    """
    result = _read_pair(record, position, line)
    return result.pair if isinstance(result, _Skip) else result


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass
class PairCollector:
    """A file's pairs and skipped pairs, and the one reason a file with no usable pair gets."""

    question_keys: tuple[str, ...] = QUESTION_KEYS  # RAG exports also take "query"
    pairs: list[QAPair] = field(default_factory=list)
    skipped: list[SkippedPair] = field(default_factory=list)
    problems: Counter[str] = field(default_factory=Counter)

    def add(
        self,
        record: object,
        position: int,
        line: LineRef,
        defaults: Meta,
        overrides: Meta | None = None,
    ) -> None:
        """Read one record as a pair: ``overrides`` beat its own metadata, which beats ``defaults``.

        Defaults come from the file or export session; overrides from a RAG record's metadata.
        """
        result = _read_pair(record, position, line, self.question_keys, overrides, defaults)
        if isinstance(result, _Skip):
            self.problems[result.problem] += 1
            self.skipped.append(result.pair)
            return
        self.pairs.append(result)

    def skip(self, position: int, line: LineRef, reason: str, problem: str) -> None:
        """Record a pair skipped for a reason outside the pair itself (its export session)."""
        self.problems[problem] += 1
        self.skipped.append(SkippedPair(position=position, line=resolve_line(line), reason=reason))

    def no_usable_pair(self, shown: int = 3, *, total: int | None = None) -> Rejected | None:
        """The rejection for a file whose every pair was skipped, naming the first few reasons.

        ``total``: how many were skipped, when ``skipped`` keeps only the first ones (a stream).
        """
        if self.pairs or not self.skipped:
            return None
        summary = ", ".join(
            f"{_plural(count, 'pair')} {problem}" for problem, count in self.problems.most_common()
        )
        details = "; ".join(
            (f"line {s.line}: " if s.line is not None else "") + s.reason
            for s in self.skipped[:shown]
        )
        more = (len(self.skipped) if total is None else total) - shown
        if more > 0:
            details += f"; and {_plural(more, 'more pair')}"
        return Rejected(f"no usable pair ({summary}): {details}")

    def batch(
        self,
        *,
        indicator: str | None = None,
        session: int | None = None,
        category: str | None = None,
        source_database: str | None = None,
        filtered: int = 0,
        filtered_reason: str | None = None,
    ) -> QABatch | Rejected:
        """The file's QABatch, or the no-usable-pair rejection.

        A file whose records were all deliberately filtered out (RAG distance) is not rejected:
        it was read as meant, it just brings nothing.
        """
        rejected = None if filtered else self.no_usable_pair()
        if rejected is not None:
            return rejected
        return QABatch(
            pairs=self.pairs,
            skipped=self.skipped,
            indicator=indicator,
            session=session,
            category=category,
            source_database=source_database,
            filtered=filtered,
            filtered_reason=filtered_reason,
        )
