"""The checking pass's reader (``handlers.streaming._CheckedReader``) read at every size.

It hands yajl the file in pieces and watches them for what yajl reads unlike orjson. Where a
piece ends must not matter: an escape cut between two reads (``\\ud83d\\ude00``, ``\\"``, a run
of backslashes) is seen whole, and a piece that ends in plain letters or digits is handed on
as it is read.
"""

from __future__ import annotations

import io

import pytest

from handlers.streaming import _CheckedReader

DOCUMENTS = [
    # (bytes, irregular, quotes that are not escaped)
    (b'{"a": "caf\\u00e9 deadbeef 0123", "b": "x"}', False, 8),
    (b'["\\ud83d\\ude00 ok", "\\\\", "a\\"b"]', False, 6),
    (b'["\\\\\\"", "fe"]', False, 4),
    (b'["a\\ud800 lone"]', True, 0),
    (b'["a\\ud83d\\u0041"]', True, 0),
    (b'["tab\x0bhere"]', True, 0),
    (b'["ends in hex abcdef"] "abc', False, 3),
]


def read_all(data: bytes, size: int) -> tuple[bytes, _CheckedReader]:
    reader = _CheckedReader(io.BytesIO(data))
    pieces = []
    while piece := reader.read(size):
        pieces.append(piece)
    return b"".join(pieces), reader


@pytest.mark.parametrize(("data", "irregular", "quotes"), DOCUMENTS)
def test_every_read_size_gives_the_same_bytes_and_findings(
    data: bytes, irregular: bool, quotes: int
) -> None:
    for size in range(1, len(data) + 2):
        out, reader = read_all(data, size)
        assert reader.irregular is irregular, size
        if not irregular:
            assert out == data, size
            assert reader.quotes == quotes, size


def test_a_piece_ending_in_letters_is_handed_on_whole() -> None:
    data = b'["0123456789abcdef' + b"a" * 100 + b'"]'
    reader = _CheckedReader(io.BytesIO(data))
    first = reader.read(50)
    assert first == data[:50]  # nothing held back: no backslash at its end
    assert reader.held == b""
