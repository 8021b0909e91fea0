"""Every JSON shape a large file may have streams exactly as the same file parses whole.

An object holding its pair list (under any of the list keys, its metadata before or after
the list), a bare list of pairs, and JSON Lines: the streamed read gives the same pairs, the
same skipped pairs with their lines, the same file metadata and the same rejection, word for
word, as ``parse``; a file it cannot stream so is left to the whole read (``stream`` gives
None). The good shapes are streamed, a chunk at a time, never read whole.
"""

from __future__ import annotations

import codecs
import io
import json
from pathlib import PurePosixPath
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import export, qa_json, rag_export
from handlers.base import FileContext, Rejected
from handlers.jsonio import LIST_KEYS
from handlers.models import QABatch
from tests.handlers.cases import drain
from tests.handlers.test_fuzz_json_parsers import JSONISH, PAIRISH, serialize

QA_NAME = "session_02/sma_qa_pairs.json"
PAIR = {"question": "What is the SMA? ✓", "answer": "The mean of the last n closes. 😀"}


def ctx(rel: str) -> FileContext:
    return FileContext(agent="droid", box="outbox", rel_path=PurePosixPath(rel))


def streamed(module: ModuleType, data: bytes, rel: str, size: int = 7) -> QABatch | Rejected | None:
    """The file read by the handler's ``stream`` and drained as the Q&A importer drains it."""
    assert module.HANDLER.stream is not None
    return drain(module.HANDLER.stream(io.BytesIO(data), ctx(rel)), size)


def same_as_parsed(
    module: ModuleType, data: bytes, rel: str = QA_NAME, *, streams: bool = False
) -> QABatch | Rejected:
    """``parse``'s result, checked to be the streamed one (``streams``: it must stream)."""
    whole: QABatch | Rejected = module.HANDLER.parse(data, ctx(rel))
    result = streamed(module, data, rel)
    if streams:
        assert result is not None, "a good shape must stream, not be read whole"
    assert result is None or result == whole
    return whole


def pairs(count: int, *, every_bad: int = 0) -> list[object]:
    return [
        {"question": f"Question {i}?"} if every_bad and i % every_bad == 0 else {**PAIR, "id": i}
        for i in range(count)
    ]


def dumps(value: object, layout: str) -> bytes:
    if layout == "jsonl":
        assert isinstance(value, list)
        return "\n".join(json.dumps(item) for item in value).encode()
    text = json.dumps(value, indent=None if layout == "compact" else 2, ensure_ascii=False)
    if layout == "crlf":
        text = text.replace("\n", "\r\n")
    if layout in ("utf-16", "utf-32"):
        return text.encode(layout)  # with its BOM
    return text.encode("utf-8-sig" if layout == "bom" else "utf-8")


LAYOUTS = ["compact", "indent", "crlf", "bom", "utf-16", "utf-32"]


# ------------------------------------------------------------------ the good shapes stream


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("key", LIST_KEYS)
def test_an_object_with_its_pair_list_streams_with_its_metadata(key: str, layout: str) -> None:
    doc = {"indicator": "RSI", "session": 7, "category": "momentum", key: pairs(30, every_bad=9)}
    whole = same_as_parsed(qa_json, dumps(doc, layout), streams=True)
    assert isinstance(whole, QABatch)
    assert (whole.indicator, whole.session, whole.category) == ("RSI", 7, "momentum")
    assert len(whole.pairs) == 26 and {p.indicator for p in whole.pairs} == {"RSI"}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_metadata_after_the_pair_list_still_applies_to_every_pair(layout: str) -> None:
    doc = {"qa_pairs": pairs(12, every_bad=5), "topic": "MACD", "session_id": "session_04"}
    whole = same_as_parsed(qa_json, dumps(doc, layout), streams=True)
    assert isinstance(whole, QABatch)
    assert {(p.indicator, p.session) for p in whole.pairs} == {("MACD", 4)}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_list_of_pairs_streams(layout: str) -> None:
    whole = same_as_parsed(qa_json, dumps(pairs(20, every_bad=6), layout), streams=True)
    assert isinstance(whole, QABatch) and len(whole.pairs) == 16
    assert whole.session == 2  # from the folder


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32-be"])
@pytest.mark.parametrize("rel", [QA_NAME, QA_NAME + "l"])
def test_json_lines_stream_under_either_name(rel: str, encoding: str) -> None:
    text = dumps(pairs(20, every_bad=6), "jsonl").decode()
    data = text.encode(encoding) if encoding != "utf-32-be" else ("\ufeff" + text).encode(encoding)
    whole = same_as_parsed(qa_json, data, rel, streams=True)
    assert isinstance(whole, QABatch) and len(whole.pairs) == 16


KEY_TWICE = [
    ("the list", {"qa_pairs": [{"q": "A?", "a": "a"}]}, '"qa_pairs": [{"q": "B?", "a": "b"}]'),
    ("the indicator", {"indicator": "SMA", "qa_pairs": pairs(4)}, '"indicator": "EMA"'),
    ("a list then null", {"qa_pairs": pairs(3), "pairs": pairs(2)}, '"qa_pairs": null'),
    ("a longer list first", {"qa_pairs": pairs(9, every_bad=2)}, '"qa_pairs": [{"q": "?"}, 1]'),
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize(("case", "doc", "again"), KEY_TWICE, ids=[c for c, _, _ in KEY_TWICE])
def test_a_key_written_twice_streams_with_its_last_value(
    case: str, doc: dict[str, object], again: str, indent: int | None, encoding: str
) -> None:
    """orjson keeps a key's last value (where the key first stood): the stream keeps the same."""
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    same_as_parsed(qa_json, f"{text[:-1]},\n{again}}}".encode(encoding), streams=True)


def test_a_pretty_printed_document_in_a_jsonl_file_streams() -> None:
    same_as_parsed(qa_json, dumps(pairs(5), "indent"), QA_NAME + "l", streams=True)


@pytest.mark.parametrize("layout", ["compact", "indent", "jsonl"])
def test_a_rag_export_streams_in_each_shape(layout: str) -> None:
    records: list[object] = [
        {"query": f"Q{i}?", "response": "A.", "distance": 0.9 if i % 3 == 0 else 0.1}
        for i in range(30)
    ]
    records[4] = {"query": "no answer?", "distance": 0.1}
    whole = same_as_parsed(rag_export, dumps(records, layout), "rag_export_x.json", streams=True)
    assert isinstance(whole, QABatch) and (whole.filtered, len(whole.skipped)) == (10, 1)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_export_streams_in_each_layout(layout: str) -> None:
    doc = {"sessions": [{"session_id": 3, "topic": "RSI", "qa_pairs": pairs(9, every_bad=4)}]}
    same_as_parsed(export, dumps(doc, layout), "database_qa_export_1.json", streams=True)


@pytest.mark.parametrize(
    ("value", "layout"),
    [({"indicator": "RSI", "qa_pairs": pairs(3_000)}, "compact"), (pairs(3_000), "indent")],
)
def test_a_large_document_is_read_as_it_goes(value: object, layout: str) -> None:
    data = dumps(value, layout)
    source = io.BytesIO(data)
    stream = qa_json.stream(source, ctx(QA_NAME))
    assert stream is not None
    chunks = stream.chunks(1_000)
    assert len(next(chunks)) == 1_000
    assert source.tell() < len(data) / 2  # a third of the pairs read for the first chunk
    assert sum(len(chunk) for chunk in chunks) == 2_000


# ------------------------------------------------------------------ the same rejections


REJECTED = [
    ("no usable pair", {"indicator": "RSI", "qa_pairs": [{"question": "?"}] * 5}),
    ("an empty list", {"indicator": "RSI", "qa_pairs": []}),
    ("an empty bare list", []),
    ("no list key", {"indicator": "RSI", "question": "one pair?"}),
    ("a list key that is not a list", {"qa_pairs": "none"}),
    ("the list key null, the next one a list", {"qa_pairs": None, "pairs": [PAIR]}),
    ("an unusable indicator", {"indicator": ["RSI"], "qa_pairs": [PAIR]}),
    ("an unusable session", {"session": {"n": 2}, "qa_pairs": [PAIR]}),
    ("a scalar", 42),
    ("a string", "pairs"),
]


@pytest.mark.parametrize("layout", ["compact", "indent", "bom", "utf-16"])
@pytest.mark.parametrize(("case", "value"), REJECTED, ids=[c for c, _ in REJECTED])
def test_each_shape_is_rejected_as_the_whole_read_rejects_it(
    case: str, value: object, layout: str
) -> None:
    """A list or an object is refused by its stream (never read whole); a lone value is not
    a document of pairs at all, left to the whole read."""
    same_as_parsed(qa_json, dumps(value, layout), streams=isinstance(value, list | dict))


@pytest.mark.parametrize("value", [{"indicator": "RSI", "qa_pairs": [PAIR]}, []])
def test_a_rag_export_of_the_wrong_shape_is_refused_by_its_stream(value: object) -> None:
    same_as_parsed(rag_export, dumps(value, "compact"), "rag_export_x.json", streams=True)


@pytest.mark.parametrize(
    ("case", "data"),
    [
        ("a key twice", b'{"qa_pairs": [{"q": "A?", "a": "a"}], "qa_pairs": [{"q": "B?"}]}'),
        (
            "a key twice, the last not a list",
            b'{"qa_pairs": [{"q": "A?", "a": "a"}], "qa_pairs": 1}',
        ),
        (
            "invalid UTF-16",
            codecs.BOM_UTF16_LE + '[{"q": "A?", "a": "a"}]'.encode("utf-16-le")[:-3],
        ),
        (
            "a lone surrogate in UTF-16",
            '\ufeff[{"q": "A\ud800"}]'.encode("utf-16-le", "surrogatepass"),
        ),
        (
            "two BOMs in UTF-16",
            '\ufeff\ufeff{"q": "A?", "a": "a"}\n{"q": "B?", "a": "b"}'.encode("utf-16-le"),
        ),
        ("NUL in UTF-16", '[{"q": "A?", "a": "a\x00"}]'.encode("utf-16")),
        ("cut off", b'{"indicator": "RSI", "qa_pairs": [{"q": "A?", "a": "a"}'),
        ("trailing text", b'{"qa_pairs": [{"q": "A?", "a": "a"}]} x'),
        ("a string left open after", b'{"qa_pairs": [{"q": "A?", "a": "a"}]}\n"abc'),
        ("an escaped quote left open after", b'[{"q": "A\\"?", "a": "\\\\"}] "a\\"'),
        ("a lone surrogate", b'{"qa_pairs": [{"q": "A\\ud800?", "a": "a"}]}'),
        ("form feed", b'{"qa_pairs":\x0c[{"q": "A?", "a": "a"}]}'),
        ("invalid UTF-8 late", b'{"qa_pairs": [{"q": "A?", "a": "a"}, {"q": "\xe9"}]}'),
        ("NUL", b'[{"q": "A?", "a": "a\x00"}]'),
        ("too deep", b'{"qa_pairs": [{"q": "A?", "a": "a", "x": ' + b"[" * 70 + b"]" * 70 + b"}]}"),
        ("lines, one bad", b'{"q": "A?", "a": "a"}\n{"q": "B?", "a": \n{"q": "C?", "a": "c"}'),
        ("lines, bad UTF-8 after bad JSON", b'{"q": "A?", "a": "a"}\n{"q": \n{"q": "\xe9"}'),
        ("lines with a blank non-ASCII line", '{"q": "A?", "a": "a"}\n\u00a0\n[1]'.encode()),
        ("one object line", b'{"question": "A?", "answer": "a"}\n'),
        ("empty", b""),
        ("blank", b" \n\t\n"),
    ],
)
@pytest.mark.parametrize("suffix", ["", "l"])
def test_faulty_and_odd_files_give_what_parse_gives(case: str, data: bytes, suffix: str) -> None:
    same_as_parsed(qa_json, data, QA_NAME + suffix)
    same_as_parsed(rag_export, data, "rag_export_x.json" + suffix)


def test_a_compact_object_is_not_taken_for_one_json_line() -> None:
    """The issue's case: a one-line object file was read as JSON Lines, a record of one pair."""
    data = dumps({"indicator": "RSI", "session": 5, "qa_pairs": pairs(40)}, "compact")
    result = streamed(qa_json, data, QA_NAME)
    assert isinstance(result, QABatch), result
    assert len(result.pairs) == 40 and result.session == 5


# ------------------------------------------------------------------ any shape, any pairs


WRAPPERS = st.sampled_from(["object", "object-after", "list", "jsonl"])


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(PAIRISH | JSONISH, max_size=6),
    wrapper=WRAPPERS,
    key=st.sampled_from(LIST_KEYS),
    meta=st.dictionaries(st.sampled_from(["indicator", "topic", "session", "category"]), JSONISH),
    style=st.sampled_from(["compact", "indent", "utf-8-sig", "utf-16", "utf-32"]),
    suffix=st.sampled_from(["", "l"]),
)
def test_any_pairs_in_any_shape_stream_as_they_parse(
    records: list[object], wrapper: str, key: str, meta: dict[str, object], style: str, suffix: str
) -> None:
    value: object = records
    if wrapper == "object":
        value = {**meta, key: records}
    elif wrapper == "object-after":
        value = {key: records, **meta}
    data = serialize(value, "jsonl" if wrapper == "jsonl" else style)
    same_as_parsed(qa_json, data, QA_NAME + suffix)
    same_as_parsed(rag_export, data, "rag_export_x.json" + suffix)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_stream_as_they_parse(data: bytes) -> None:
    for prefix in (b"", b"{", b"[", b'{"qa_pairs": [', b'{"q": "A?", "a": "a"}\n'):
        same_as_parsed(qa_json, prefix + data)
        same_as_parsed(qa_json, prefix + data, QA_NAME + "l")
        wide = (prefix + data).decode("latin-1").encode("utf-16")  # the same text in UTF-16
        same_as_parsed(qa_json, wide)
        same_as_parsed(qa_json, wide, QA_NAME + "l")
    same_as_parsed(qa_json, codecs.BOM_UTF16_LE + data)  # any bytes after a UTF-16 BOM
