"""A text's MinHash (datasketch) and the LSH band keys made from it.

32 hash functions in 16 bands of 2: a pair whose words have Jaccard similarity s shares at
least one band with a stored one with probability 1 - (1 - s²)¹⁶: 0.99 at s = 0.5 (the default
threshold), 0.94 at 0.4, under 0.5 below 0.2. Every band key also hashes the anchor set, so
only texts with the same numbers, timeframes, indicator names and directions ever meet: a
template shared by thousands of questions about other indicators yields no candidates.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
SCHEME = "affine32"  # datasketch's hashing scheme, named so an upgrade cannot change it


@functools.cache
def _minhash_type() -> tuple[type[MinHash], Any]:
    """datasketch's MinHash and its permutations, drawn once (datasketch otherwise draws them
    for every MinHash). Imported at the first use: importing datasketch takes scipy (0.4 s),
    which a command that imports no pair never needs."""
    from datasketch import MinHash

    return MinHash, MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations


@dataclass(frozen=True)
class Fingerprint:
    """What the index holds of a text: its MinHash, its anchors' digest, its band keys
    (none when the text has no word to compare: such a text is never matched)."""

    shingles: Shingles
    minhash: bytes
    anchors: int
    band_keys: tuple[int, ...]


def signed64(digest: bytes) -> int:
    """Eight bytes as a signed 64-bit integer: what BIGINT (and SQLite's INTEGER) holds."""
    return int.from_bytes(digest[:8], "little", signed=True)


def anchors_digest(anchors: frozenset[str]) -> int:
    joined = "\x1f".join(sorted(anchors)).encode("utf-8")
    return signed64(hashlib.blake2b(joined, digest_size=8).digest())


def minhash_bytes(words: frozenset[str]) -> bytes:
    """The MinHash of the words: NUM_PERM unsigned 32-bit values, little-endian."""
    minhash, permutations = _minhash_type()
    sketch = minhash(num_perm=NUM_PERM, permutations=permutations, scheme=SCHEME)
    sketch.update_batch([word.encode("utf-8") for word in sorted(words)])
    values: bytes = sketch.hashvalues.astype("<u4").tobytes()
    return values


def band_keys(values: bytes, anchors: int) -> tuple[int, ...]:
    """One key per band: the band's two hash values (one 64-bit word) and the anchors'
    digest, mixed by splitmix64's finalizer (every input bit moves every output bit), as
    signed 64 bits. Plain integer arithmetic: fixed forever, whatever the platform."""
    keys = []
    for band, word in enumerate(_BANDS.unpack(values)):
        mixed = (word ^ ((anchors + band * _GOLDEN) * _GOLDEN)) & _MASK
        mixed = ((mixed ^ (mixed >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        mixed = ((mixed ^ (mixed >> 27)) * 0x94D049BB133111EB) & _MASK
        mixed ^= mixed >> 31
        keys.append(mixed - (1 << 64) if mixed >= 1 << 63 else mixed)
    return tuple(keys)


def fingerprint(shingles: Shingles) -> Fingerprint:
    anchors = anchors_digest(shingles.anchors)
    values = minhash_bytes(shingles.words)
    keys = band_keys(values, anchors) if shingles.words else ()
    return Fingerprint(shingles, values, anchors, keys)
