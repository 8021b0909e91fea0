"""The search: candidates from the index's bands, confirmed on words and anchors.

The index is held in memory (``index``), loaded from the signatures stored in the same
transaction as the pairs (``near_signatures``): a restart bands them again without reading a
text, and every daemon on one PostgreSQL reads what the others committed before it searches.
A batch (one chunk of a file, or of ``dedup --rebuild``) is searched in one go: its
fingerprints in one numpy pass, the candidates of all its band keys from the index and from
its transaction's own earlier pairs, their text in one query, and the batch's own earlier
pairs from memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from sqlalchemy import Connection, Engine, Table, bindparam, literal, select, update
from sqlalchemy.orm import Session

from daemon.neardup.detector import Detector, Text
from daemon.neardup.index import Added, Pending, shared_index
from daemon.neardup.signature import BANDS, Prints
from daemon.neardup.text import Shingles
from daemon.store.engine import insert_many
from daemon.store.models import NearSignature, QAPairRow

LOOKUP_CHUNK = 500  # values per IN (...): well under every driver's parameter limit
NEAR_SIGNATURES = cast(Table, NearSignature.__table__)
SIGNATURES_SQLITE = "INSERT INTO near_signatures (qa_id, anchors, minhash) VALUES (?, ?, ?)"
TEXT_OF = select(
    QAPairRow.qa_id, QAPairRow.question, QAPairRow.answer, QAPairRow.indicator_name
).where(QAPairRow.qa_id.in_(bindparam("ids", expanding=True)))
# the question alone, when only it is compared: an answer is often thousands of characters
QUESTION_OF = select(
    QAPairRow.qa_id, QAPairRow.question, literal(""), QAPairRow.indicator_name
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


def _earlier_sharing(prints: Prints) -> dict[int, set[int]]:
    """For each text of the batch, the earlier texts sharing a band key with it (texts with
    words only): the keys sorted once, rather than a dict entry a key."""
    with_words = np.array([prints.has_words(i) for i in range(len(prints.shingles))], dtype=bool)
    items = np.repeat(np.arange(len(with_words)), BANDS)[np.repeat(with_words, BANDS)]
    flat = prints.keys[with_words].ravel()
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    sharing: dict[int, set[int]] = defaultdict(set)
    same = np.nonzero(ordered[1:] == ordered[:-1])[0]
    if not len(same):
        return sharing
    # runs of equal keys: each member shares with the members before it
    starts = same[np.concatenate([[True], same[1:] != same[:-1] + 1])]
    for first in starts.tolist():
        last = first + 1
        while last < len(ordered) and ordered[last] == ordered[first]:
            last += 1
        members = sorted(set(items[order[first:last]].tolist()))
        for place, item in enumerate(members):
            sharing[item].update(members[:place])
    return sharing


def search(
    db_session: Session,
    detector: Detector,
    texts: Sequence[Text],
    *,
    chain_matched: bool = True,
    own_ids: Sequence[int] | None = None,
) -> tuple[Prints, list[Match | None]]:
    """Each text's fingerprint and best match, in order (``search_prints``)."""
    prints = detector.prints(texts)
    matches = search_prints(
        db_session, detector, prints, chain_matched=chain_matched, own_ids=own_ids
    )
    return prints, matches


def search_prints(
    db_session: Session,
    detector: Detector,
    prints: Prints,
    *,
    chain_matched: bool = True,
    own_ids: Sequence[int] | None = None,
) -> list[Match | None]:
    """Each fingerprinted text's best match, in order: among the stored pairs (those
    committed, and those of this transaction) and the batch's earlier pairs (a matched one
    among them only with ``chain_matched``: a skipped pair is resembled by nothing).
    ``own_ids`` (the pairs are stored already, being rebuilt): only a stored pair with a
    lower id is resembled, the one that came first."""
    engine = cast(Engine, db_session.get_bind())
    index = shared_index(engine)
    pending = Pending.of(db_session)
    # SQLite: once this transaction has written, no other can commit before it does
    if not (pending.ids and engine.dialect.name == "sqlite"):
        index.refresh(engine)
    stored = index.candidates(prints.keys)
    pending.candidates(prints.keys, stored)
    for position, found in stored.items():
        below = own_ids[position] if own_ids is not None else None
        if not prints.has_words(position):
            found.clear()
        elif below is not None:
            found.difference_update([i for i in found if i >= below])
    connection = db_session.connection()
    known = _stored_shingles(connection, detector, set().union(*stored.values()))
    sharing = _earlier_sharing(prints)
    matched: set[int] = set()  # earlier texts matched: resembled by nothing without chaining
    matches: list[Match | None] = [None] * len(prints.shingles)
    for position in sorted(stored.keys() | sharing.keys()):
        earlier = sharing.get(position, set())
        if earlier and not chain_matched:
            earlier = earlier - matched
        best = _best(detector, prints, position, stored.get(position, set()), known, earlier)
        matches[position] = best
        if best is not None:
            matched.add(position)
    return matches


def _best(
    detector: Detector,
    prints: Prints,
    position: int,
    stored_ids: set[int],
    known: dict[int, Shingles],
    earlier: set[int],
) -> Match | None:
    """The most similar confirmed candidate; on a tie the stored one, then the oldest. A
    candidate whose pair is gone (deleted; a stale key) is none."""
    mine = prints.shingles[position]
    found: list[tuple[float, int, int, Match]] = []
    for qa_id in stored_ids:
        theirs = known.get(qa_id)
        similarity = detector.confirm(mine, theirs) if theirs is not None else None
        if similarity is not None:
            found.append((-similarity, 0, qa_id, Match(similarity, of=qa_id)))
    for item in earlier:
        similarity = detector.confirm(mine, prints.shingles[item])
        if similarity is not None:
            found.append((-similarity, 1, item, Match(similarity, of_item=item)))
    return min(found, key=lambda entry: entry[:3])[3] if found else None


def _stored_shingles(
    connection: Connection, detector: Detector, ids: set[int]
) -> dict[int, Shingles]:
    """The candidates' words and anchors, from their text (only theirs is read)."""
    ordered = sorted(ids)
    known: dict[int, Shingles] = {}
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        query = TEXT_OF if detector.with_answer else QUESTION_OF
        rows = connection.execute(query, {"ids": ordered[start : start + LOOKUP_CHUNK]})
        for qa_id, question, answer, indicator in rows:
            known[qa_id] = detector.shingles((question, answer, indicator))
    return known


def record(connection: Connection, qa_ids: Sequence[int], prints: Prints) -> Added:
    """Store the pairs' signatures (``qa_ids[i]`` is item i of ``prints``); what goes into
    the index once they are committed: those with words, and their band keys."""
    raw, size = prints.values.astype("<u4").tobytes(), prints.values.shape[1] * 4
    rows = [
        (qa_id, anchors, raw[item * size : (item + 1) * size])
        for item, (qa_id, anchors) in enumerate(zip(qa_ids, prints.anchors.tolist(), strict=True))
    ]
    if connection.dialect.name == "sqlite":  # bytes as they are: no per-row processing
        connection.exec_driver_sql(SIGNATURES_SQLITE, rows)
    else:
        keys = ("qa_id", "anchors", "minhash")
        insert_many(
            connection, NEAR_SIGNATURES, [dict(zip(keys, row, strict=True)) for row in rows]
        )
    words = np.array([prints.has_words(item) for item in range(len(qa_ids))], dtype=bool)
    return Added.of(np.array(qa_ids, dtype=np.int64)[words], prints.keys[words])


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
