"""A text's MinHash (datasketch) and the LSH band keys made from it.

32 hash functions in 16 bands of 2: a pair whose words have Jaccard similarity s shares at
least one band with a stored one with probability 1 - (1 - s²)¹⁶: 0.99 at s = 0.5 (the default
threshold), 0.94 at 0.4, under 0.5 below 0.2. Every band key also hashes the anchor set, so
only texts with the same numbers, timeframes, indicator names and directions ever meet: a
template shared by thousands of questions about other indicators yields no candidates.

A chunk's MinHashes are computed in one numpy pass (``fingerprints``): a MinHash is the
element-wise minimum of its words' permuted hashes, so each distinct word's 32 values are
computed once (datasketch's hashing and permutations, ``word_values``) and kept in a
vocabulary, and a text's MinHash is the minimum over its words' rows: byte for byte what
datasketch gives the whole text (``minhash_bytes``, tested on many texts), without a MinHash
object a text, nor datasketch's import (scipy: up to 2 s a process).
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from daemon.neardup.text import Shingles

if TYPE_CHECKING:
    from datasketch import MinHash

NUM_PERM = 32
BANDS = 16
ROWS_PER_BAND = NUM_PERM // BANDS
SEED = 18  # fixed: a stored signature must be comparable with tomorrow's
_BANDS = struct.Struct(f"<{BANDS}Q")  # a band's ROWS_PER_BAND (2) 32-bit values: one word
_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
SCHEME = "affine32"  # datasketch's hashing scheme, named so an upgrade cannot change it
EMPTY = np.uint32(0xFFFFFFFF)  # every value of the MinHash of no word
# distinct words kept with their values: 8 MiB of values (128 bytes a word), ~5 MiB of
# words; a corpus's questions use far fewer, and a word forgotten costs one SHA-1 again
VOCABULARY_LIMIT = 1 << 16

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


@functools.cache
def _minhash_type() -> type[MinHash]:
    """datasketch's MinHash, the reference: imported at the first use (it takes scipy, 0.4 to
    2 s), which only ``minhash_bytes`` makes."""
    from datasketch import MinHash

    reference: type[MinHash] = MinHash
    return reference


def _permutations() -> tuple[U32, U32]:
    """datasketch 2.0's ``affine32`` permutations for SEED, drawn as it draws them
    (``MinHash._init_permutations``): odd multipliers, any offsets, from numpy's RandomState.
    Drawn here so a process that imports pairs does not import datasketch and scipy; equal
    to datasketch's (tested)."""
    generator = np.random.RandomState(SEED)
    a = generator.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


PERMUTATIONS = _permutations()
_FMIX = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35))


def word_values(words: Sequence[str]) -> U32:
    """Each word's NUM_PERM permuted hash values (len(words) x NUM_PERM), as datasketch's
    ``affine32`` scheme computes them: the word's SHA-1 (first 4 bytes, little-endian:
    ``datasketch.hashfunc.sha1_hash32``), MurmurHash3's 32-bit finalizer, then a * h + b
    modulo 2³². A text's MinHash is the minimum of its words' rows."""
    hashed = np.array(
        [int.from_bytes(hashlib.sha1(w.encode("utf-8")).digest()[:4], "little") for w in words],
        dtype=np.uint32,
    )
    shift1, mul1, shift2, mul2 = _FMIX
    with np.errstate(over="ignore"):
        hashed = (hashed ^ (hashed >> shift1)) * mul1
        hashed = (hashed ^ (hashed >> shift2)) * mul2
        hashed ^= hashed >> shift1
        a, b = PERMUTATIONS
        values: U32 = hashed[:, None] * a[None, :] + b[None, :]
    return values


def signed64(digest: bytes) -> int:
    """Eight bytes as a signed 64-bit integer: what BIGINT (and SQLite's INTEGER) holds."""
    return int.from_bytes(digest[:8], "little", signed=True)


@functools.lru_cache(maxsize=1 << 13)  # anchor sets repeat: an indicator, a number
def anchors_digest(anchors: frozenset[str]) -> int:
    joined = "\x1f".join(sorted(anchors)).encode("utf-8")
    return signed64(hashlib.blake2b(joined, digest_size=8).digest())


def minhash_bytes(words: frozenset[str]) -> bytes:
    """The MinHash of the words by datasketch, one object: NUM_PERM unsigned 32-bit values,
    little-endian. What ``fingerprints`` must give (tested), and what 0007 stored."""
    sketch = _minhash_type()(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)
    sketch.update_batch([word.encode("utf-8") for word in sorted(words)])
    values: bytes = sketch.hashvalues.astype("<u4").tobytes()
    return values


def band_keys(values: bytes, anchors: int) -> tuple[int, ...]:
    """One key per band: the band's two hash values (one 64-bit word) and the anchors'
    digest, mixed by splitmix64's finalizer (every input bit moves every output bit), as
    signed 64 bits. Plain integer arithmetic: fixed forever, whatever the platform
    (``band_keys_array`` is the same for many signatures at once)."""
    keys = []
    for band, word in enumerate(_BANDS.unpack(values)):
        mixed = (word ^ ((anchors + band * _GOLDEN) * _GOLDEN)) & _MASK
        mixed = ((mixed ^ (mixed >> 30)) * _MIX1) & _MASK
        mixed = ((mixed ^ (mixed >> 27)) * _MIX2) & _MASK
        mixed ^= mixed >> 31
        keys.append(mixed - (1 << 64) if mixed >= 1 << 63 else mixed)
    return tuple(keys)


_BAND_SALT = np.array([(band * _GOLDEN) & _MASK for band in range(BANDS)], dtype=np.uint64)


def band_keys_array(values: U32, anchors: I64) -> U64:
    """``band_keys`` of n signatures at once (``values`` n x NUM_PERM, ``anchors`` n), as
    unsigned 64 bits, n x BANDS: numpy's uint64 arithmetic wraps as ``& _MASK`` does."""
    words = np.ascontiguousarray(values, dtype="<u4").view("<u8").astype(np.uint64)
    salt = anchors.astype(np.int64).view(np.uint64)[:, None] + _BAND_SALT[None, :]
    with np.errstate(over="ignore"):
        mixed = words ^ (salt * np.uint64(_GOLDEN))
        mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(_MIX1)
        mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(_MIX2)
    mixed ^= mixed >> np.uint64(31)
    keys: U64 = mixed
    return keys


@dataclass
class Prints:
    """What the index holds of a batch of texts: each one's MinHash (n x NUM_PERM), its
    anchors' digest and its band keys (n x BANDS, unsigned). A text without a word to
    compare (``has_words`` false) has keys but is never indexed nor matched."""

    shingles: list[Shingles]
    values: U32
    anchors: I64
    keys: U64

    def has_words(self, item: int) -> bool:
        return bool(self.shingles[item].words)

    def minhash(self, item: int) -> bytes:
        values: bytes = self.values[item].astype("<u4").tobytes()
        return values

    def take(self, items: Sequence[int]) -> Prints:
        """These items only, in this order."""
        at = np.array(items, dtype=np.intp)
        return Prints(
            [self.shingles[i] for i in items], self.values[at], self.anchors[at], self.keys[at]
        )


class _Vocabulary:
    """Each word's NUM_PERM values (``word_values``), computed once, for up to
    VOCABULARY_LIMIT words (a text of random words would grow it without end)."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.values = np.empty((min(1024, VOCABULARY_LIMIT), NUM_PERM), dtype=np.uint32)

    def rows_of(self, texts: Sequence[Shingles]) -> tuple[list[int], list[int]]:
        """Every text's words' rows, one after the other, and where each text's begin."""
        new = list({w: None for text in texts for w in text.words if w not in self.rows})
        if len(self.rows) + len(new) > VOCABULARY_LIMIT:  # full: start over with these texts
            self.rows.clear()
            new = list({w: None for text in texts for w in text.words})
        if new:
            first = len(self.rows)
            needed = first + len(new)
            if needed > len(self.values):  # doubled, but not past the limit (a batch may)
                grown = max(min(2 * len(self.values), VOCABULARY_LIMIT), needed)
                values = np.empty((grown, NUM_PERM), dtype=np.uint32)
                values[:first] = self.values[:first]
                self.values = values
            self.values[first:needed] = word_values(new)
            self.rows.update((word, first + i) for i, word in enumerate(new))
        rows: list[int] = []
        starts: list[int] = []
        get = self.rows.__getitem__
        for text in texts:
            starts.append(len(rows))
            rows.extend(map(get, text.words))
        return rows, starts


_VOCABULARY = _Vocabulary()


def fingerprints(texts: Sequence[Shingles]) -> Prints:
    """The MinHashes and band keys of a batch of texts in one pass (see the module's doc)."""
    rows, starts = _VOCABULARY.rows_of(texts)
    anchors = np.array([anchors_digest(text.anchors) for text in texts], dtype=np.int64)
    values = np.full((len(texts), NUM_PERM), EMPTY, dtype=np.uint32)
    if rows:
        gathered = _VOCABULARY.values[np.array(rows, dtype=np.intp)]
        sized = np.array([bool(text.words) for text in texts])
        # reduceat over the texts with words only: an empty text's start is its neighbour's
        at = np.array(starts, dtype=np.intp)[sized]
        values[sized] = np.minimum.reduceat(gathered, at, axis=0)
    return Prints(list(texts), values, anchors, band_keys_array(values, anchors))
