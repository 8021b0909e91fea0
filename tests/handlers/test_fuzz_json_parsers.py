"""Every parser of a JSON file answers a model or Rejected for any JSON, and never raises.

The parsers are read from the routing table (``tests.handlers.cases``): every handler whose
name patterns end in ``.json`` or ``.jsonl``. Arbitrary bytes are fed to every parser by
``test_fuzz_text_parsers``.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from handlers.base import Rejected
from handlers.jsonio import (
    ANSWER_KEYS,
    CATEGORY_KEYS,
    DIFFICULTY_KEYS,
    INDICATOR_KEYS,
    LIST_KEYS,
    QUESTION_KEYS,
    SESSION_KEYS,
)
from tests.handlers.cases import JSON_CASES, Case

IDS = [case.id for case in JSON_CASES]

# Keys the parsers look for, so generated objects reach the interesting branches.
KEYS = st.sampled_from(
    [
        *QUESTION_KEYS,
        *ANSWER_KEYS,
        *INDICATOR_KEYS,
        *SESSION_KEYS,
        *CATEGORY_KEYS,
        *DIFFICULTY_KEYS,
        *LIST_KEYS,
        "query",
        "input",
        "id",
        "messages",
        "role",
        "content",
        "distance",
        "metadata",
        "sessions",
    ]
) | st.text(max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", " ", "02", "45", "user", "assistant", "0.7", "session_9"])
    | st.text(max_size=30)
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=40,
)

# Pair-like records: each known field maybe present, text most of the time, so that the
# success paths are reached as often as the rejections.
TEXTY = st.text(max_size=20) | SCALARS
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", 3]), "content": TEXTY}
)
FIELD = TEXTY | st.lists(MESSAGE, max_size=3) | st.dictionaries(KEYS, SCALARS, max_size=3)
OPTIONAL_FIELDS = {
    "q": FIELD,
    "query": TEXTY,
    "response": FIELD,
    "input": FIELD,
    "messages": st.lists(MESSAGE, max_size=3),
    "indicator": FIELD,
    "topic": TEXTY,
    "session": FIELD,
    "session_id": TEXTY,
    "category": TEXTY,
    "difficulty": FIELD,
    "id": FIELD,
    "distance": TEXTY,
    "metadata": st.dictionaries(KEYS, SCALARS, max_size=3),
}
WORDS = st.text(min_size=1, max_size=20)
PAIRISH = st.fixed_dictionaries(
    {"question": WORDS, "answer": WORDS}, optional=OPTIONAL_FIELDS
) | st.fixed_dictionaries({}, optional={"question": TEXTY, "answer": TEXTY, **OPTIONAL_FIELDS})


def serialize(value: object, style: str) -> bytes:
    """The value as a file: compact, indented, JSON Lines, or in another encoding."""
    if style == "jsonl" and isinstance(value, list):
        text = "\r\n".join(json.dumps(item) for item in value)
    elif style == "indent":
        text = json.dumps(value, indent=2, ensure_ascii=False)
    else:
        text = json.dumps(value, ensure_ascii=False)
    if style in ("utf-16", "utf-32"):
        return text.encode(style)  # with its BOM
    if style == "utf-8-sig":
        return text.encode("utf-8-sig")
    return text.encode("utf-8", errors="surrogatepass")


def check(case: Case, data: bytes) -> None:
    result = case.parse(data, case.ctx)
    assert isinstance(result, BaseModel | Rejected)


def test_the_table_has_json_parsers_to_fuzz() -> None:
    assert {case.handler.name for case in JSON_CASES} >= {"qa", "rag_export", "export"}


@pytest.mark.parametrize("case", JSON_CASES, ids=IDS)
@settings(max_examples=200, deadline=None)
@given(
    value=JSONISH,
    style=st.sampled_from(["compact", "indent", "jsonl", "utf-16", "utf-8-sig"]),
)
def test_arbitrary_json_values_never_raise(case: Case, value: object, style: str) -> None:
    check(case, serialize(value, style))


@pytest.mark.parametrize("case", JSON_CASES, ids=IDS)
@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(PAIRISH, max_size=5),
    session=st.integers(min_value=0, max_value=300) | SCALARS,
    wrapper=st.sampled_from(["qa_pairs", "sessions", "list"]),
)
def test_pair_lists_in_every_wrapper_never_raise(
    case: Case, pairs: list[dict[str, object]], session: object, wrapper: str
) -> None:
    value: object
    if wrapper == "sessions":
        value = {"sessions": [{"session_id": session, "topic": "T", "qa_pairs": pairs}]}
    elif wrapper == "qa_pairs":
        value = {"session": session, "qa_pairs": pairs}
    else:
        value = pairs
    check(case, serialize(value, "indent"))


@pytest.mark.parametrize("case", JSON_CASES, ids=IDS)
@settings(max_examples=100, deadline=None)
@given(
    prefix=st.text(max_size=50),
    depth=st.integers(min_value=0, max_value=5000),
    bracket=st.sampled_from(["[", "{", '{"a":', '[{"q":']),
)
def test_truncations_and_deep_nesting_never_raise(
    case: Case, prefix: str, depth: int, bracket: str
) -> None:
    check(case, (prefix + bracket * depth).encode("utf-8", errors="surrogatepass"))
