"""The index's storage (``daemon.neardup.words``): sorted packed words, one array while small,
buckets of key ranges once large. Whatever the path a word took in (few or many at a time,
sorted or not, a set taken whole, a split), a search finds exactly the ids sharing a key,
every bucket stays sorted and holds only its own range, and a large set is never held twice:
taken whole without a copy, cut one bucket at a time."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.neardup import words as words_module
from daemon.neardup.signature import BANDS
from daemon.neardup.words import BUCKET_BITS, LOW, Words, packed


@pytest.fixture
def small_split(monkeypatch: pytest.MonkeyPatch) -> int:
    """Sets split into buckets past 2,000 words, so a test's few thousand pairs do."""
    monkeypatch.setattr(words_module, "SPLIT_WORDS", 2000)
    return 2000


def _pairs(rng: np.random.Generator, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` pairs from id ``first``, their keys in a 12-bit space (many share a key),
    spread over every bucket (the key's top bits)."""
    ids = np.arange(first, first + count, dtype=np.int64)
    keys = rng.integers(0, 1 << 12, (count, BANDS), dtype=np.uint64) << np.uint64(20)
    return ids, keys


def _expected(every: dict[int, set[int]], asked: np.ndarray) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for row, keys in enumerate(asked.tolist()):
        ids = set().union(*(every.get(key & 0xFFFFFFFF, set()) for key in keys))
        if ids:
            found[row] = ids
    return found


def _assert_well_formed(words: Words) -> None:
    for number, bucket in enumerate(words.buckets):
        assert np.all(bucket[:-1] <= bucket[1:])
        if len(words.buckets) > 1 and len(bucket):
            assert set((bucket >> np.uint64(64 - BUCKET_BITS)).tolist()) == {number}


def test_packed_is_the_key_above_the_id() -> None:
    ids = np.array([1, 7, (1 << 32) - 1], dtype=np.int64)
    keys = np.array([[(1 << 64) - 1] * BANDS, [5] * BANDS, [1 << 40] * BANDS], dtype=np.uint64)
    flat = packed(keys, ids)
    assert flat.flags.owndata and flat.shape == (3 * BANDS,)
    rows = zip(ids.tolist(), keys.tolist(), strict=True)
    expected = [((k & 0xFFFFFFFF) << 32) | i for i, row in rows for k in row]
    assert flat.tolist() == expected
    assert packed((keys & LOW).astype(np.uint32), ids).tolist() == expected
    with pytest.raises(ValueError, match="does not fit"):
        packed(keys[:1], np.array([1 << 32], dtype=np.int64))


@pytest.mark.parametrize("how", ["owned", "copied", "ordered"])
def test_a_search_finds_the_ids_sharing_a_key_through_the_split(small_split: int, how: str) -> None:
    rng = np.random.default_rng(11)
    words = Words()
    every: dict[int, set[int]] = {}
    first = 1
    for _ in range(40):
        count = int(rng.integers(1, 60))
        ids, keys = _pairs(rng, first, count)
        first += count
        flat = packed(keys, ids)
        if how == "ordered":
            flat.sort()
        words.insert(flat, owned=how == "owned", ordered=how == "ordered")
        for qa_id, row in zip(ids.tolist(), keys.tolist(), strict=True):
            for key in row:
                every.setdefault(key, set()).add(qa_id)
    assert len(words) == (first - 1) * BANDS > small_split
    assert len(words.buckets) == 1 << BUCKET_BITS  # it split
    _assert_well_formed(words)
    asked = rng.integers(0, 1 << 12, (200, BANDS), dtype=np.uint64) << np.uint64(20)
    found: dict[int, set[int]] = {}
    words.lookup((asked & LOW).ravel(), found)
    assert found == _expected(every, asked)
    assert words.ids() == set(range(1, first))


def test_a_set_taken_whole_is_moved_not_copied(small_split: int) -> None:
    rng = np.random.default_rng(5)
    large, small = Words(), Words()
    large.insert(packed(*reversed(_pairs(rng, 1, 400))), owned=True)
    assert len(large.buckets) > 1
    arrays = [id(bucket) for bucket in large.buckets]
    into = Words()
    into.absorb(large)
    assert [id(bucket) for bucket in into.buckets] == arrays  # the same arrays
    assert len(large) == 0
    # into a set holding words already: merged bucket by bucket, the other emptied
    small.insert(packed(*reversed(_pairs(rng, 1000, 30))), owned=True)
    into.absorb(small)
    assert len(small) == 0 and len(into) == 430 * BANDS
    _assert_well_formed(into)
    assert into.ids() == set(range(1, 401)) | set(range(1000, 1030))


def test_a_large_array_is_cut_one_bucket_at_a_time(small_split: int) -> None:
    """The array cut into buckets shrinks as each is copied out: no second whole copy."""
    rng = np.random.default_rng(9)
    flat = packed(*reversed(_pairs(rng, 1, 1000)))
    flat.sort()
    original = flat.copy()
    words = Words()
    words.insert(flat, ordered=True)
    assert len(flat) == 0  # shrunk in place to nothing: its words live in the buckets
    assert all(bucket.flags.owndata for bucket in words.buckets)
    assert np.concatenate(words.buckets).tolist() == original.tolist()


def test_removed_pairs_are_gone_from_every_bucket(small_split: int) -> None:
    rng = np.random.default_rng(2)
    words = Words()
    ids, keys = _pairs(rng, 1, 300)
    words.insert(packed(keys, ids), owned=True)
    words.remove(np.arange(100, 201, dtype=np.int64))
    assert words.ids() == set(range(1, 100)) | set(range(201, 301))
    _assert_well_formed(words)
    found: dict[int, set[int]] = {}
    words.lookup((keys[99:100] & LOW).ravel(), found)  # pair 100's own keys
    assert 100 not in found.get(0, set())
