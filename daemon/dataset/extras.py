"""What a snapshot derives from the same stream as its data: RAG records, the review list,
the keys index and the totals. Each is written or counted chunk by chunk.

The RAG records (``rag.jsonl``) are one line per indicator with its pairs, in the shape
docs/formats.md gives: the rows arrive grouped by indicator, so only one indicator's pairs
are held at a time. ``keys.parquet`` names every pair the snapshot stands for (an
incremental snapshot's too: its parent's pairs and its own), with the fingerprint of its
values; ``diff`` and the next incremental snapshot read it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from daemon.dataset.filters import TIERS
from daemon.dataset.formats import ArrowFile, LinesFile, Written
from daemon.dataset.rows import INDEX, SPLIT_COLUMN, Chunk

RAG_FILE = "rag.jsonl"
REVIEW_FILE = "review.jsonl"
KEYS_FILE = "keys.parquet"
KEYS_SCHEMA = pa.schema(
    [("pair", pa.string()), ("qa_id", pa.int64()), ("fingerprint", pa.binary(8))]
)
NONE = "(none)"  # how totals and the card show a missing value
_RAG_PAIR_FIELDS = (
    "qa_id",
    "question_key",
    "session",
    "question",
    "answer",
    "quality_score",
    "tier",
)


class RagRecords(LinesFile):
    """``rag.jsonl``: per indicator, its pairs and one document of them for embedding.

    Given every pair (not only an incremental snapshot's changed ones): a record is always
    whole, so a RAG store that replaces records by ``id`` loses nothing. With ``is_new``
    (incremental), only the indicators with an added or changed pair are written.
    """

    def __init__(self, folder: Path, is_new: Callable[[bytes], bool] | None = None) -> None:
        super().__init__(folder, RAG_FILE)
        self._is_new = is_new
        self._group: str | None = None
        self._head: dict[str, Any] = {}
        self._pairs: list[dict[str, Any]] = []
        self._touched = False

    def write(self, chunk: Chunk) -> None:
        indicator, category = INDEX["indicator"], INDEX["category"]
        fields = [(field, INDEX[field]) for field in _RAG_PAIR_FIELDS]
        for row, fingerprint in zip(chunk.rows, chunk.fingerprints, strict=True):
            name = row[indicator]
            group = NONE if name is None else name.casefold()
            if group != self._group:
                self._flush()
                self._group = group
                self._head = {"indicator": name, "category": row[category]}
            self._pairs.append({field: row[i] for field, i in fields})
            self._touched = self._touched or self._is_new is None or self._is_new(fingerprint)

    def _flush(self) -> None:
        touched, self._touched = self._touched, False
        if not touched:
            self._pairs = []
            return
        pairs, name = self._pairs, self._head["indicator"]
        sessions = sorted({p["session"] for p in pairs if p["session"] is not None})
        document = "\n\n".join(f"Q: {p['question']}\nA: {p['answer']}" for p in pairs)
        line = {
            "id": f"indicator:{self._group}",
            "indicator": name,
            "category": self._head["category"],
            "sessions": sessions,
            "document": document,
            "metadata": {
                "indicator": name or NONE,
                "category": self._head["category"] or NONE,
                "sessions": ",".join(map(str, sessions)),
                "pairs": len(pairs),
            },
            "qa_pairs": pairs,
        }
        self._file.write(orjson.dumps(line) + b"\n")
        self.rows += 1
        self._pairs = []

    def close(self) -> list[Written]:
        self._flush()
        return super().close()


def review_reasons(row: tuple[Any, ...], min_score: float, tier_below: str) -> list[str]:
    """Why a person should look at a pair (none: it needs no look)."""
    reasons: list[str] = []
    score, tier = row[INDEX["quality_score"]], row[INDEX["tier"]]
    if score is not None and score < min_score:
        reasons.append(f"quality score {score:g} is below {min_score:g}")
    if tier in _tiers_below(tier_below):
        reasons.append(f"tier {tier} is below {tier_below}")
    if row[INDEX["key_conflict"]]:
        reasons.append("its question key is shared with another pair (kept from before adoption)")
    if row[INDEX["duplicate_of"]] is not None:
        reasons.append(f"the refiner marked it a duplicate of pair {row[INDEX['duplicate_of']]}")
    if row[INDEX["near_duplicate_of"]] is not None:
        reasons.append(
            f"a near-duplicate of pair {row[INDEX['near_duplicate_of']]}"
            f" (similarity {row[INDEX['near_similarity']]:.2f})"
        )
    if row[INDEX["refinement_notes"]]:
        reasons.append(f"the refiner left notes: {row[INDEX['refinement_notes']]}")
    return reasons


def _tiers_below(tier: str) -> list[str]:
    return list(TIERS[TIERS.index(tier) + 1 :])


def may_need_review(batch: pa.RecordBatch, min_score: float, tier_below: str) -> list[int]:
    """The rows ``review_reasons`` can find a reason for, picked out in Arrow (most have none)."""
    notes = batch.column("refinement_notes")
    needs = pc.or_(
        pc.or_(
            pc.fill_null(pc.less(batch.column("quality_score"), min_score), False),
            pc.is_in(batch.column("tier"), pa.array(_tiers_below(tier_below), pa.string())),
        ),
        pc.or_(
            pc.or_(
                pc.fill_null(batch.column("key_conflict"), False),
                pc.or_(
                    pc.is_valid(batch.column("duplicate_of")),
                    pc.is_valid(batch.column("near_duplicate_of")),
                ),
            ),
            pc.fill_null(pc.greater(pc.utf8_length(notes), 0), False),
        ),
    )
    return cast(list[int], pc.indices_nonzero(needs).to_pylist())


_REVIEW_FIELDS = (
    "qa_id",
    "question_key",
    "indicator",
    "session",
    "agent",
    "source_file",
    "question",
    "answer",
    "quality_score",
    "tier",
    "duplicate_of",
    "near_duplicate_of",
    "refinement_notes",
)


class ReviewList(LinesFile):
    """``review.jsonl``: the pairs a person should look at, each with its reasons."""

    def __init__(self, folder: Path, min_score: float, tier_below: str) -> None:
        super().__init__(folder, REVIEW_FILE)
        self._min_score, self._tier_below = min_score, tier_below

    def write(self, chunk: Chunk) -> None:
        lines: list[bytes] = []
        if not len(chunk):
            return
        for i in may_need_review(chunk.batch, self._min_score, self._tier_below):
            row = chunk.rows[i]
            reasons = review_reasons(row, self._min_score, self._tier_below)
            if reasons:
                record = {field: row[INDEX[field]] for field in _REVIEW_FIELDS}
                record["reasons"] = reasons
                lines.append(orjson.dumps(record) + b"\n")
        self._file.write(b"".join(lines))
        self.rows += len(lines)


class KeysIndex(ArrowFile):
    """``keys.parquet``: every pair the snapshot stands for, with its fingerprint."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, KEYS_FILE)
        self._writer = pq.ParquetWriter(self.path, KEYS_SCHEMA, compression="zstd")

    def write(self, chunk: Chunk) -> None:
        if not len(chunk):
            return
        qa_id = INDEX["qa_id"]
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array(chunk.identities, pa.string()),
                pa.array([row[qa_id] for row in chunk.rows], pa.int64()),
                pa.array(chunk.fingerprints, pa.binary(8)),
            ],
            schema=KEYS_SCHEMA,
        )
        self._writer.write_batch(batch)
        self.rows += len(chunk)


TOTALS_BY = ("tier", "category", "agent", "session")
UNSCORED = "unscored"


def _counts(array: pa.Array | pa.ChunkedArray) -> Counter[str]:
    """How often each value occurs (None shown as ``NONE``), counted by Arrow."""
    counted: Counter[str] = Counter()
    found = pc.value_counts(array)
    for value, count in zip(
        found.field("values").to_pylist(), found.field("counts").to_pylist(), strict=True
    ):
        counted[NONE if value is None else str(value)] += count
    return counted


def _quality_buckets(scores: pa.Array | pa.ChunkedArray) -> Counter[str]:
    """Scores in tenths (``0.3-0.4``; 1.0 goes with 0.9), and how many have none."""
    # skip_nulls=False: a pair with no score stays null (counted unscored), never 9
    tenths = pc.min_element_wise(pc.floor(pc.multiply(scores, 10)), 9, skip_nulls=False)
    counted: Counter[str] = Counter()
    for low, count in _counts(tenths).items():
        name = UNSCORED if low == NONE else f"{float(low) / 10:.1f}-{float(low) / 10 + 0.1:.1f}"
        counted[name] += count
    return counted


def source_of(source_file: str | None, source_database: str | None) -> str:
    """Where a pair came from, as the card's sources table names it."""
    if source_database:
        return f"export {source_database}"
    return "delivered files" if source_file else "adopted (no file)"


class Totals:
    """Counts of the rows written, by tier, category, agent, session, source, split, score."""

    def __init__(self) -> None:
        self.pairs = 0
        self.by: dict[str, Counter[str]] = {
            name: Counter() for name in (*TOTALS_BY, "source", SPLIT_COLUMN)
        }
        self.quality: Counter[str] = Counter()

    def write(self, chunk: Chunk) -> None:
        if not len(chunk):
            return
        self.pairs += len(chunk)
        batch = chunk.batch
        for name in TOTALS_BY:
            self.by[name].update(_counts(batch.column(name)))
        if chunk.splits is not None:
            self.by[SPLIT_COLUMN].update(_counts(batch.column(SPLIT_COLUMN)))
        file, database = INDEX["source_file"], INDEX["source_database"]
        self.by["source"].update(source_of(r[file], r[database]) for r in chunk.rows)
        self.quality.update(_quality_buckets(batch.column("quality_score")))

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Each breakdown, largest first (sessions in order); empty ones left out."""
        shown: dict[str, dict[str, int]] = {}
        for name, counts in self.by.items():
            if not counts:
                continue
            if name == "session":
                order = sorted(counts, key=lambda s: (s == NONE, int(s) if s != NONE else 0))
                shown[name] = {s: counts[s] for s in order}
            else:
                shown[name] = dict(counts.most_common())
        return shown

    def quality_histogram(self) -> dict[str, int]:
        return dict(sorted(self.quality.items()))
