"""The search: candidates from the index's bands, confirmed on words and anchors.

The index lives in the database (``near_bands``, ``near_signatures``), written in the same
transaction as the pairs: a restart has nothing to rebuild, and every daemon on one
PostgreSQL queries what the others committed. A batch (one chunk of a file, or of
``dedup --rebuild``) is searched in one go: the stored candidates of all its band keys in a
few queries, their text in one, and the batch's own earlier pairs from memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select, update

from daemon.config import Settings
from daemon.neardup.signature import Fingerprint, fingerprint
from daemon.neardup.text import Shingles, jaccard, shingles
from daemon.store.engine import insert_many
from daemon.store.models import NearBand, NearSignature, QAPairRow

Text = tuple[str, str, str | None]  # a pair's question, answer and indicator name
LOOKUP_CHUNK = 500  # values per IN (...): well under every driver's parameter limit
NEAR_BANDS = cast(Table, NearBand.__table__)
NEAR_SIGNATURES = cast(Table, NearSignature.__table__)
BANDS_OF = select(NearBand.band_key, NearBand.qa_id).where(
    NearBand.band_key.in_(bindparam("keys", expanding=True))
)
TEXT_OF = select(
    QAPairRow.qa_id, QAPairRow.question, QAPairRow.answer, QAPairRow.indicator_name
).where(QAPairRow.qa_id.in_(bindparam("ids", expanding=True)))

MARK = (
    update(QAPairRow)
    .where(QAPairRow.qa_id == bindparam("pair"))
    .values(near_duplicate_of=bindparam("of"), near_similarity=bindparam("similarity"))
)


@dataclass(frozen=True)
class Match:
    """What a pair resembles: a stored pair (``of``) or an earlier pair of the same batch
    (``of_item``, its position), and the Jaccard similarity of their words."""

    similarity: float
    of: int | None = None
    of_item: int | None = None


@dataclass(frozen=True)
class Detector:
    """The settings that decide a match, and what of a pair is compared."""

    threshold: float
    with_answer: bool = False  # words of question + answer; anchors always the question's

    @classmethod
    def from_settings(cls, settings: Settings) -> Detector:
        return cls(
            settings.near_duplicate_threshold,
            settings.near_duplicate_scope == "question-answer",
        )

    def shingles(self, text: Text) -> Shingles:
        question, answer, indicator = text
        asked = shingles(question, indicator)
        if not self.with_answer:
            return asked
        return Shingles(asked.words | shingles(answer, indicator).words, asked.anchors)

    def confirm(self, mine: Shingles, theirs: Shingles) -> float | None:
        """Their similarity when it makes a near-duplicate: the same anchors, and words alike
        at least to the threshold (an empty text resembles nothing)."""
        if mine.anchors != theirs.anchors or not mine.words or not theirs.words:
            return None
        similarity = jaccard(mine.words, theirs.words)
        return similarity if similarity >= self.threshold else None


@dataclass
class _Batch:
    """A batch's own pairs as it is searched, by band key (those that may be resembled)."""

    by_key: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, position: int, print_: Fingerprint) -> None:
        for key in print_.band_keys:
            self.by_key[key].append(position)

    def candidates(self, print_: Fingerprint) -> set[int]:
        return {position for key in print_.band_keys for position in self.by_key.get(key, ())}


def search(
    connection: Connection,
    detector: Detector,
    texts: Sequence[Text],
    *,
    chain_matched: bool = True,
    own_ids: Sequence[int] | None = None,
) -> tuple[list[Fingerprint], list[Match | None]]:
    """Each text's fingerprint and best match, in order: among the stored pairs and the
    batch's earlier pairs (a matched one among them only with ``chain_matched``: a
    skipped pair is resembled by nothing). ``own_ids`` (the pairs are stored already, being
    rebuilt): only a stored pair with a lower id is resembled, the one that came first."""
    prints = [fingerprint(detector.shingles(text)) for text in texts]
    stored = _stored_candidates(connection, prints)
    known = _stored_shingles(connection, detector, {i for ids in stored.values() for i in ids})
    batch = _Batch()
    matches: list[Match | None] = []
    for position, print_ in enumerate(prints):
        below = own_ids[position] if own_ids is not None else None
        ids = {
            i for key in print_.band_keys for i in stored.get(key, ()) if below is None or i < below
        }
        best = _best(detector, print_, ids, known, batch.candidates(print_), prints)
        matches.append(best)
        if best is None or chain_matched:
            batch.add(position, print_)
    return prints, matches


def _best(
    detector: Detector,
    print_: Fingerprint,
    stored_ids: set[int],
    known: dict[int, Shingles],
    earlier: set[int],
    prints: list[Fingerprint],
) -> Match | None:
    """The most similar confirmed candidate; on a tie the stored one, then the oldest."""
    found: list[tuple[float, int, int, Match]] = []
    for qa_id in stored_ids:
        similarity = detector.confirm(print_.shingles, known[qa_id])
        if similarity is not None:
            found.append((-similarity, 0, qa_id, Match(similarity, of=qa_id)))
    for position in earlier:
        similarity = detector.confirm(print_.shingles, prints[position].shingles)
        if similarity is not None:
            found.append((-similarity, 1, position, Match(similarity, of_item=position)))
    return min(found, key=lambda entry: entry[:3])[3] if found else None


def _stored_candidates(connection: Connection, prints: list[Fingerprint]) -> dict[int, list[int]]:
    """band key -> the stored pairs in that bucket, for every band key of the batch."""
    keys = sorted({key for print_ in prints for key in print_.band_keys})
    found: dict[int, list[int]] = defaultdict(list)
    for start in range(0, len(keys), LOOKUP_CHUNK):
        for key, qa_id in connection.execute(
            BANDS_OF, {"keys": keys[start : start + LOOKUP_CHUNK]}
        ):
            found[key].append(qa_id)
    return found


def _stored_shingles(
    connection: Connection, detector: Detector, ids: set[int]
) -> dict[int, Shingles]:
    """The candidates' words and anchors, from their text (only theirs is read)."""
    ordered = sorted(ids)
    known: dict[int, Shingles] = {}
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        rows = connection.execute(TEXT_OF, {"ids": ordered[start : start + LOOKUP_CHUNK]})
        for qa_id, question, answer, indicator in rows:
            known[qa_id] = detector.shingles((question, answer, indicator))
    return known


def record(connection: Connection, stored: Sequence[tuple[int, Fingerprint]]) -> None:
    """Put stored pairs into the index: their signature, and a row per band."""
    signatures: list[dict[str, Any]] = [
        {"qa_id": qa_id, "anchors": print_.anchors, "minhash": print_.minhash}
        for qa_id, print_ in stored
    ]
    bands: list[dict[str, Any]] = [
        {"band_key": key, "qa_id": qa_id} for qa_id, print_ in stored for key in print_.band_keys
    ]
    insert_many(connection, NEAR_SIGNATURES, signatures)
    insert_many(connection, NEAR_BANDS, bands)


def mark(connection: Connection, qa_ids: Sequence[int], matches: Sequence[Match | None]) -> int:
    """Store each matched pair's mark (``of_item`` a position in ``qa_ids``); how many."""
    marks = [
        {
            "pair": qa_id,
            "of": match.of if match.of is not None else qa_ids[match.of_item or 0],
            "similarity": match.similarity,
        }
        for qa_id, match in zip(qa_ids, matches, strict=True)
        if match is not None
    ]
    if marks:
        connection.execute(MARK, marks)
    return len(marks)
