"""The index's storage: packed words (a band key's low 32 bits above a pair's id), sorted,
searched by key with ``searchsorted``.

A large set of words is held in BUCKETS sorted arrays, one per range of keys (a word's top
bits), not in one: adding words then copies one range at a time, so what an addition holds
beside the words is a 16th of them, not a second copy of them all (a file of 200,000 pairs
holds 3.2 million words, 24 MiB). A small set keeps one array: searching one costs fewer
numpy calls (a burst of 20-pair files searches a small set for every file).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from daemon.neardup.signature import BANDS, U32, U64

ID_LIMIT = 1 << 32  # a pair's id is kept in 32 bits
LOW = np.uint64(0xFFFFFFFF)
SPLIT_WORDS = 1 << 20  # past this many words (8 MiB), a set is held by buckets
BUCKET_BITS = 4
BUCKETS = 1 << BUCKET_BITS
# where each bucket after the first begins: the words whose top bits are its number
_BOUNDS = np.array([b << (64 - BUCKET_BITS) for b in range(1, BUCKETS)], dtype=np.uint64)


def _empty() -> U64:
    return np.empty(0, dtype=np.uint64)


def packed(keys: U64 | U32, ids: npt.NDArray[np.int64]) -> U64:
    """(key's low 32 bits << 32) | id, one word per (pair, band) of ``keys`` (n x BANDS),
    flat: built in one array owning its data, no temporary of its size (a large file's are
    tens of MiB)."""
    if len(ids) and int(ids.max()) >= ID_LIMIT:
        raise ValueError(f"pair id {int(ids.max())} does not fit the near-duplicate index")
    words: U64 = np.empty(keys.size, dtype=np.uint64)
    grid = words.reshape(keys.shape)
    grid[...] = keys
    if keys.dtype != np.uint32:
        grid &= LOW
    grid <<= np.uint64(32)
    grid |= ids.astype(np.uint64, copy=False)[:, None]
    return words


def _merged(bucket: U64, words: U64) -> U64:
    """Sorted ``words`` into a sorted ``bucket``: taken as they are into an empty one;
    inserted where they go when few (one copy); when many, appended and the two runs merged
    (a stable sort is numpy's timsort: it merges runs)."""
    if not len(bucket):
        return words
    if len(words) > len(bucket) // 32:
        merged = np.concatenate([bucket, words])
        merged.sort(kind="stable")
        return merged
    inserted: U64 = np.insert(bucket, np.searchsorted(bucket, words), words)
    return inserted


def _cuts(words: U64) -> list[int]:
    """Where each bucket's words begin and end in sorted ``words``: BUCKETS + 1 places."""
    return [0, *np.searchsorted(words, _BOUNDS).tolist(), len(words)]


def _carved(words: U64) -> list[U64]:
    """Sorted ``words`` cut into the buckets' arrays. Each bucket is copied out from the last
    back, and an array owning its data shrinks after each (``resize``, in place), so the
    cut never holds much more than the words; another array's view is cut into views."""
    cuts = _cuts(words)
    if not words.flags.owndata:
        return [words[start:end] for start, end in itertools.pairwise(cuts)]
    parts: list[U64] = []
    for start in reversed(cuts[:-1]):
        parts.append(words[start:].copy())
        words.resize(start, refcheck=False)
    return parts[::-1]


@dataclass
class Words:
    """Packed words (``packed``), sorted: one array, or BUCKETS once large (module doc)."""

    buckets: list[U64] = field(default_factory=lambda: [_empty()])

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self.buckets)

    def insert(self, words: U64, *, owned: bool = False, ordered: bool = False) -> None:
        """Add ``words`` (flat). ``owned``: they may be sorted in place, kept, or shrunk (no
        copy: the caller lets them go); ``ordered``: owned and sorted already."""
        if not ordered:
            if owned:
                words.sort()
            else:
                words = np.sort(words, axis=None)
        if len(self.buckets) == 1:
            whole = _merged(self.buckets[0], words)
            self.buckets = _carved(whole) if len(whole) > SPLIT_WORDS else [whole]
            return
        cuts = _cuts(words)
        for bucket, (start, end) in enumerate(itertools.pairwise(cuts)):
            if end > start:
                self.buckets[bucket] = _merged(self.buckets[bucket], words[start:end])

    def absorb(self, other: Words) -> None:
        """``other``'s words added, ``other`` left empty: taken as they are when this set is
        empty, else one bucket at a time (what is merged is let go as it goes)."""
        if not len(self):
            self.buckets, other.buckets = other.buckets, [_empty()]
            return
        parts, other.buckets = other.buckets, [_empty()]
        while parts:
            self.insert(parts.pop(0), ordered=True)

    def remove(self, ids: npt.NDArray[np.int64]) -> None:
        """Every word of these pairs taken out (a file's savepoint rolled back)."""
        gone = ids.astype(np.uint64)
        self.buckets = [bucket[~np.isin(bucket & LOW, gone)] for bucket in self.buckets]

    def lookup(self, low: U64, found: dict[int, set[int]]) -> None:
        """Into ``found[i]`` the ids sharing a key with row i (``low``: n x BANDS flattened,
        the keys' low 32 bits); a row without any has no entry."""
        if not any(len(bucket) for bucket in self.buckets):
            return
        # the keys searched in order: each array is walked, not jumped about (3x at 16M)
        order = np.argsort(low)
        shifted = low[order] << np.uint64(32)
        cuts = _cuts(shifted) if len(self.buckets) > 1 else [0, len(shifted)]
        for bucket, start, end in zip(self.buckets, cuts, cuts[1:], strict=False):
            if end == start or not len(bucket):
                continue
            asked = shifted[start:end]
            first = np.searchsorted(bucket, asked, "left")
            last = np.searchsorted(bucket, asked | LOW, "right")
            for hit in np.nonzero(last > first)[0].tolist():
                ids = (bucket[first[hit] : last[hit]] & LOW).tolist()
                found.setdefault(int(order[start + hit]) // BANDS, set()).update(ids)

    def ids(self) -> set[int]:
        """Every pair with a word here (for tests and checks)."""
        return {i for bucket in self.buckets for i in (bucket & LOW).tolist()}

    @property
    def nbytes(self) -> int:
        return sum(bucket.nbytes for bucket in self.buckets)
