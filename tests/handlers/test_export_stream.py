"""A multi-session export streamed a session at a time reads exactly as ``export.parse`` reads
it whole: the same pairs, skipped pairs with their lines, and the same rejections, word for
word; and any bytes give pairs or a rejection, never another exception."""

from __future__ import annotations

import io
import json
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.cli.demo import DEMO_FILES
from handlers import export
from handlers.base import FileContext, Rejected
from handlers.models import QABatch
from handlers.streaming import StreamRejected
from tests.handlers.cases import drain
from tests.handlers.test_fuzz_json_parsers import JSONISH, PAIRISH, serialize

NAME = "database_qa_export_20251030_012343.json"
SAMPLE = DEMO_FILES / "outbox/claude" / NAME
PAIR = {"question": "What is gas?", "answer": "A measure of computation."}


def ctx() -> FileContext:
    return FileContext(agent="claude", box="outbox", rel_path=PurePosixPath(NAME))


def streamed(data: bytes, size: int = 1_000) -> QABatch | Rejected | None:
    """The export read by ``export.stream`` and drained as the Q&A importer drains it."""
    return drain(export.stream(io.BytesIO(data), ctx()), size)


def same_as_parsed(data: bytes) -> QABatch | Rejected:
    """The streamed result, checked to be ``export.parse``'s (a file it reads whole: None)."""
    whole = export.parse(data, ctx())
    result = streamed(data)
    assert result is None or result == whole
    return whole


def export_doc(sessions: int = 4, pairs: int = 30, answer: int = 1) -> dict[str, object]:
    """Sessions where every seventh pair has no answer, and three sessions that are faulty."""
    body: list[object] = [
        {
            "session_id": 500 - s,
            "topic": f"Topic {s}",
            "qa_pairs": [
                {"question": f"Q {s}-{i}?", "answer": "A" * answer * (i + 1)}
                if i % 7
                else {"question": "?"}
                for i in range(pairs)
            ],
        }
        for s in range(sessions)
    ]
    body.insert(2, {"topic": "No id", "qa_pairs": [PAIR]})
    body.insert(3, "not a session")
    body.insert(4, {"session_id": 9, "pairs": "not a list"})
    return {"export_date": "2025-10-30", "sessions": body}


def test_the_sample_streams_to_the_pairs_parse_gives() -> None:
    data = SAMPLE.read_bytes()
    whole = export.parse(data, ctx())
    assert isinstance(whole, QABatch) and len(whole.pairs) == 5
    assert streamed(data) == whole


@pytest.mark.parametrize("layout", ["compact", "indent", "indent-crlf", "indent-bom"])
def test_faulty_sessions_and_pairs_are_skipped_with_the_same_reasons_and_lines(
    layout: str,
) -> None:
    text = json.dumps(export_doc(), indent=None if layout == "compact" else 2)
    if layout == "indent-crlf":
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8-sig" if layout == "indent-bom" else "utf-8")
    whole = same_as_parsed(data)
    assert isinstance(whole, QABatch)
    assert len(whole.skipped) == 4 * 5 + 3  # pairs without an answer; three faulty sessions
    lines = [s.line for s in whole.skipped if s.line is not None]
    assert len(lines) == len(whole.skipped)
    assert lines[0] == (1 if layout == "compact" else 8)
    assert lines == sorted(lines)


def test_a_fault_late_in_the_file_rejects_it_before_any_pair_with_parses_reason() -> None:
    text = json.dumps(export_doc(sessions=40), indent=1)
    cut = text.rindex('"answer"')
    data = (text[:cut] + '"answer" "no colon"' + text[cut + len('"answer"') :]).encode()
    whole = export.parse(data, ctx())
    assert isinstance(whole, Rejected)
    assert whole.reason.startswith("invalid JSON at pair 30 of session 43 of the export:")
    assert whole.line and whole.column
    # the check before streaming finds it: left to the whole read, not one pair handed out
    assert export.stream(io.BytesIO(data), ctx()) is None


@pytest.mark.parametrize(
    ("case", "data"),
    [
        (
            "sessions twice: the last wins",
            b'{"sessions": [{"session_id": 1, "qa_pairs": [{"q": "A?", "a": "a"}]}], '
            b'"sessions": [{"session_id": 2, "qa_pairs": [{"q": "B?", "a": "b"}]}]}',
        ),
        (
            "an integer beyond 64 bits: orjson reads it",
            b'{"sessions": [{"session_id": 1, "n": 123456789012345678901234567890, '
            b'"qa_pairs": [{"q": "A?", "a": "a"}]}]}',
        ),
        (
            "a lone surrogate escape: orjson rejects it",
            b'{"sessions": [{"session_id": 1, "qa_pairs": [{"q": "A\\ud800?", "a": "a"}]}]}',
        ),
        (
            "a surrogate pair: read",
            b'{"sessions": [{"session_id": 1, "qa_pairs": [{"q": "A\\ud83d\\ude00?", "a": "a"}]}]}',
        ),
        (
            "an escaped backslash before ud800: text",
            b'{"sessions": [{"session_id": 1, "qa_pairs": [{"q": "A\\\\ud800?", "a": "a"}]}]}',
        ),
        (
            "a form feed as white space: orjson rejects it",
            b'{"sessions":\x0c[{"session_id": 1, "qa_pairs": [{"q": "A?", "a": "a"}]}]}',
        ),
        (
            "nested 65 deep inside a pair",
            b'{"sessions": [{"session_id": 1, "qa_pairs": [{"q": "A?", "a": "a", "x": '
            + b"[" * 61
            + b"]" * 61
            + b"}]}]}",
        ),
        (
            "nested 64 deep: allowed",
            b'{"sessions": [{"session_id": 1, "qa_pairs": [{"q": "A?", "a": "a", "x": '
            + b"[" * 60
            + b"]" * 60
            + b"}]}]}",
        ),
        (
            "trailing text",
            b'{"sessions": [{"session_id": 1, "qa_pairs": [{"q": "A?", "a": "a"}]}]} x',
        ),
        ("cut off", b'{"sessions": [{"session_id": 1, "qa_pairs": [{"q": "A?", "a": "a"}'),
        (
            "invalid UTF-8",
            b'{"sessions": [{"session_id": 1, "qa_pairs": [{"q": "\xe9?", "a": "a"}]}]}',
        ),
        ("NUL", b'{"sessions": [{"session_id": 1, "qa_pairs": [{"q": "\x00?", "a": "a"}]}]}'),
        ("no sessions", b'{"export_date": "2025", "qa_pairs": []}'),
        ("sessions not a list", b'{"sessions": {"item": {"session_id": 1, "qa_pairs": []}}}'),
        ("sessions empty", b'{"sessions": []}'),
        ("empty object", b"{}"),
    ],
)
def test_files_yajl_and_orjson_read_apart_give_what_parse_gives(case: str, data: bytes) -> None:
    same_as_parsed(data)  # streamed alike, or (yajl and orjson apart) left to the whole read


@pytest.mark.parametrize("data", [b"", b"  \n ", b"42"])
def test_what_is_no_document_of_pairs_is_left_to_the_whole_read(data: bytes) -> None:
    assert export.stream(io.BytesIO(data), ctx()) is None


@pytest.mark.parametrize(
    "value",
    [[PAIR], {"export_date": "2025", "data": [PAIR]}, {"sessions": {"1": PAIR}}, {"sessions": []}],
)
def test_a_document_of_the_wrong_shape_is_refused_from_its_top_as_parse_refuses_it(
    value: object,
) -> None:
    """Not parsed whole (a valid 1 GB file under the wrong key would cost GBs): its stream
    rejects it when read, before any record, with ``parse``'s reason word for word."""
    data = json.dumps(value).encode()
    source = io.BytesIO(data)
    stream = export.stream(source, ctx())
    assert stream is not None
    with pytest.raises(StreamRejected) as refused:
        next(stream.chunks(1_000))
    assert refused.value.rejection == export.parse(data, ctx())


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_an_export_in_utf16_or_utf32_streams_as_it_parses(encoding: str) -> None:
    text = json.dumps(export_doc(sessions=3, pairs=8), indent=1, ensure_ascii=False)
    data = ("\ufeff" + text.replace("Topic", "Thème ✓ 😀")).encode(encoding)  # its BOM first
    whole = export.parse(data, ctx())
    assert isinstance(whole, QABatch) and whole.skipped and "😀" in str(whole.pairs[0].indicator)
    assert streamed(data, size=5) == whole


def test_an_export_is_read_as_it_goes_not_whole() -> None:
    data = json.dumps(export_doc(sessions=60, pairs=100, answer=10)).encode()  # 3 MB
    source = io.BytesIO(data)
    stream = export.stream(source, ctx())
    assert stream is not None
    chunks = stream.chunks(1_000)
    assert len(next(chunks)) == 1_000
    assert source.tell() < len(data) / 3  # a fifth of the sessions read for the first chunk
    assert sum(len(chunk) for chunk in chunks) == 60 * (100 - 15) - 1_000


def test_a_stream_without_a_usable_pair_counts_every_skipped_one_in_its_reason() -> None:
    data = json.dumps({"sessions": [{"session_id": 1, "qa_pairs": [{"q": "?"}] * 1_200}]})
    whole = same_as_parsed(data.encode())
    assert isinstance(whole, Rejected)
    assert whole.reason.endswith("and 1197 more pairs")


# ------------------------------------------------------------------ fuzzing: never apart


@settings(max_examples=300, deadline=None)
@given(value=JSONISH, style=st.sampled_from(["compact", "indent", "utf-8-sig", "utf-16", "utf-32"]))
def test_any_json_value_streams_as_it_parses(value: object, style: str) -> None:
    if isinstance(value, dict) and style in ("compact", "indent"):
        value = {"sessions": [value], **value}  # more often an export
    same_as_parsed(serialize(value, style))


@settings(max_examples=300, deadline=None)
@given(
    sessions=st.lists(
        st.fixed_dictionaries(
            {"qa_pairs": st.lists(PAIRISH, max_size=4)},
            optional={
                "session_id": st.integers(0, 300) | JSONISH,
                "topic": st.text(max_size=10) | JSONISH,
            },
        ),
        min_size=1,
        max_size=4,
    ),
    style=st.sampled_from(["compact", "indent", "utf-16"]),
)
def test_any_sessions_stream_as_they_parse(sessions: list[object], style: str) -> None:
    same_as_parsed(serialize({"sessions": sessions}, style))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_any_bytes_stream_as_they_parse(data: bytes) -> None:
    same_as_parsed(data)
    same_as_parsed(b"{" + data)  # past the first look: read by yajl


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, 10_000), flip=st.integers(0, 10_000), byte=st.binary(max_size=3))
def test_any_damage_to_an_export_streams_as_it_parses(cut: int, flip: int, byte: bytes) -> None:
    data = json.dumps(export_doc(sessions=3, pairs=8), indent=1).encode()
    at = flip % len(data)
    same_as_parsed((data[:at] + byte + data[at + 1 :])[: len(data) - cut % 50])
