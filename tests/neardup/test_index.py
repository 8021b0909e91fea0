"""The index in memory and the fingerprints it is built from: a chunk's MinHashes equal
datasketch's byte for byte, the vectorized band keys equal the scalar ones, the sorted-array
index finds what a plain search finds, and a transaction's pairs are searchable by its own
later files, reach the process's index only once committed, and never when rolled back (a
whole transaction, or one file's savepoint in a group commit)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from sqlalchemy import func, select, text

from daemon.config import Settings
from daemon.ingest import importers
from daemon.ingest.assembly import assemble
from daemon.ingest.importers.base import ImportContext, ImportResult
from daemon.ingest.outcome import FileOutcome
from daemon.neardup import words as words_module
from daemon.neardup.index import Added, BandIndex, Pending, shared_index
from daemon.neardup.signature import (
    BANDS,
    NUM_PERM,
    PERMUTATIONS,
    SCHEME,
    SEED,
    band_keys,
    band_keys_array,
    fingerprints,
    minhash_bytes,
)
from daemon.neardup.text import Shingles
from daemon.store.engine import Database
from daemon.store.models import NearSignature, QAPairRow

ALPHABET = "abcdefghijklmnopqrstuvwxyzéßøπ漢字0123456789%"


def random_texts(count: int, seed: int) -> list[Shingles]:
    """Word sets of every size (none included), words from a small and a large vocabulary,
    some not ASCII; anchor sets drawn alike."""
    rng = random.Random(seed)
    common = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 9))) for _ in range(300)]
    texts = []
    for _ in range(count):
        words = set(rng.sample(common, rng.randint(0, 15)))
        words |= {
            "".join(rng.choice(ALPHABET) for _ in range(12)) for _ in range(rng.randint(0, 3))
        }
        anchors = frozenset(rng.sample(common[:20], rng.randint(0, 3)))
        texts.append(Shingles(frozenset(words), anchors))
    return texts


def signed(key: int) -> int:
    return key - (1 << 64) if key >= 1 << 63 else key


def test_the_permutations_are_datasketchs() -> None:
    from datasketch import MinHash

    a, b = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations
    assert a.tolist() == PERMUTATIONS[0].tolist()
    assert b.tolist() == PERMUTATIONS[1].tolist()


def test_a_chunks_minhashes_are_datasketchs_byte_for_byte() -> None:
    texts = random_texts(3000, seed=18)
    prints = fingerprints(texts)
    assert prints.values.shape == (len(texts), NUM_PERM)
    for item, words in enumerate(shingled.words for shingled in texts):
        assert prints.minhash(item) == minhash_bytes(words), sorted(words)


def test_a_full_vocabulary_starts_over_and_the_minhashes_stay_datasketchs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of new words past the vocabulary's limit: it starts over, never grows past
    the limit (or a batch's own words), and every MinHash is still datasketch's."""
    from daemon.neardup import signature

    monkeypatch.setattr(signature, "VOCABULARY_LIMIT", 600)
    monkeypatch.setattr(signature, "_VOCABULARY", signature._Vocabulary())
    texts = random_texts(1200, seed=4)
    sizes = []
    for start in range(0, len(texts), 100):
        batch = texts[start : start + 100]
        prints = fingerprints(batch)
        for item, shingled in enumerate(batch):
            assert prints.minhash(item) == minhash_bytes(shingled.words)
        batch_words = len(set().union(*(t.words for t in batch)))
        sizes.append(len(signature._VOCABULARY.rows))
        assert len(signature._VOCABULARY.values) <= max(600, batch_words)
    assert max(sizes) <= 600 and sizes != sorted(sizes)  # it started over at least once


def test_the_second_process_remembers_no_question_and_this_one_a_bounded_few() -> None:
    """A large file's chunks are prepared without filling the questions' cache (each new
    question is seen once there); this process's cache keeps at most its bound, and the
    fingerprints are the same either way."""
    from daemon.ingest.preparing import prepare
    from daemon.neardup import detector as detector_module
    from handlers.models import QAPair

    cache = detector_module._question_shingles
    cache.cache_clear()
    pairs = [
        QAPair(question=f"How does RSI {n} behave on day {n % 7}?", answer="A.", position=n)
        for n in range(1, 3001)
    ]
    detector = detector_module.Detector(0.8)
    prepared = prepare(pairs, detector, "RSI")
    assert cache.cache_info().currsize == 0
    here = detector.prints([(pair.question, pair.answer, "RSI") for pair in pairs])
    assert 0 < cache.cache_info().currsize == (cache.cache_info().maxsize or 0) < len(pairs)
    assert prepared.prints is not None
    assert prepared.prints.keys.tolist() == here.keys.tolist()
    assert prepared.prints.shingles == here.shingles


def test_the_vectorized_band_keys_are_the_scalar_ones() -> None:
    prints = fingerprints(random_texts(2000, seed=7))
    keys = band_keys_array(prints.values, prints.anchors)
    for item in range(len(prints.shingles)):
        scalar = band_keys(prints.minhash(item), int(prints.anchors[item]))
        assert [signed(k) for k in keys[item].tolist()] == list(scalar)
    assert prints.keys.tolist() == keys.tolist()


@pytest.mark.parametrize("split_words", [words_module.SPLIT_WORDS, 3000])
def test_the_index_finds_what_a_plain_search_finds_across_merges(
    split_words: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many additions (recent layer, merges into the main set, which splits into ranges of
    keys past ``split_words``), 16-bit keys (at the top of the 32 bits kept, so every range
    of keys has some) so a key holds many ids: every row's candidates are exactly the ids
    sharing a key."""
    monkeypatch.setattr(words_module, "SPLIT_WORDS", split_words)
    rng = np.random.default_rng(3)
    index = BandIndex()
    index.high = 0
    every: dict[int, set[int]] = {}
    next_id = 1
    for _ in range(60):
        count = int(rng.integers(1, 400))
        ids = np.arange(next_id, next_id + count, dtype=np.int64)
        next_id += count
        keys = rng.integers(0, 1 << 16, (count, BANDS), dtype=np.uint64) << np.uint64(16)
        index.add(Added.of(ids, keys))
        for qa_id, row in zip(ids.tolist(), keys.tolist(), strict=True):
            for key in row:
                every.setdefault(key, set()).add(qa_id)
    assert len(index.main) > 0 and index.pairs == next_id - 1
    assert len(index.main.buckets) == (1 if split_words > len(index.main) else 16)
    assert all(len(bucket) for bucket in index.main.buckets)
    asked = rng.integers(0, 1 << 16, (300, BANDS), dtype=np.uint64) << np.uint64(16)
    found = index.candidates(asked)
    for row, keys in enumerate(asked.tolist()):
        expected = set().union(*(every.get(key, set()) for key in keys))
        assert found.get(row, set()) == expected


def _qa_file(root: Path, name: str, indicator: str, questions: list[str]) -> Path:
    path = root / "outbox" / "droid" / name
    pairs = [{"question": q, "answer": f"The answer to: {q}"} for q in questions]
    path.write_bytes(orjson.dumps({"indicator": indicator, "qa_pairs": pairs}))
    return path


def indexed_ids(index: BandIndex) -> set[int]:
    return index.main.ids() | index.recent.ids()


def signed_ids(db: Database) -> set[int]:
    with db.reader() as session:
        return set(session.scalars(select(NearSignature.qa_id)))


def marks(db: Database) -> dict[str, str | None]:
    with db.reader() as session:
        questions = dict(session.execute(select(QAPairRow.qa_id, QAPairRow.question)).all())
        rows = session.execute(select(QAPairRow.question, QAPairRow.near_duplicate_of)).all()
    return {question: questions.get(of) if of else None for question, of in rows}


def test_a_group_sees_its_own_pairs_and_forgets_a_file_rolled_back(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importers.IMPORTERS["qa"]
    held: list[tuple[int, int]] = []  # after each file: the transaction's own pairs, signed

    def failing_for_bad(ictx: ImportContext, model: Any) -> ImportResult:
        result = real(ictx, model)  # its pairs are searched, stored and indexed: undone
        if ictx.file.name.startswith("bad"):
            ictx.db_session.execute(text("INSERT INTO files (rel_path) VALUES (NULL)"))
        own = sum(len(ids) for ids in Pending.of(ictx.db_session).ids)
        signed = ictx.db_session.scalar(select(func.count()).select_from(NearSignature))
        held.append((own, signed or 0))
        return result

    monkeypatch.setitem(importers.IMPORTERS, "qa", failing_for_bad)
    pipeline, _status = assemble(settings, db, lambda _agents: None)
    root = settings.root_path
    paths = [
        _qa_file(root, "first_1.json", "RSI", ["What does the RSI measure?"]),
        _qa_file(root, "bad_2.json", "ZETA", ["How is the Zeta oscillator smoothed?"]),
        _qa_file(
            root,
            "third_3.json",
            "RSI",
            ["In practice, what does the RSI measure?", "How is the Zeta oscillator smoothed now?"],
        ),
    ]
    results = pipeline.process_group(paths)
    assert [r.outcome if isinstance(r, FileOutcome) else r for r in results] == [
        "imported",
        "failed",
        "imported",
    ]
    # the failed file's pair was dropped with its savepoint (SQLite gives its id again)
    assert held == [(1, 1), (3, 3)]
    found = marks(db)
    # the first file's pair, not committed yet when the third was searched, was found
    assert found["In practice, what does the RSI measure?"] == "What does the RSI measure?"
    # the rolled-back file's pair was not: it is no longer anywhere
    assert found["How is the Zeta oscillator smoothed now?"] is None
    # committed: the index holds exactly the stored signatures
    assert indexed_ids(shared_index(db.engine)) == signed_ids(db) and len(signed_ids(db)) == 3


def test_a_transaction_rolled_back_leaves_nothing_in_the_index(
    settings: Settings, db: Database
) -> None:
    pipeline, _status = assemble(settings, db, lambda _agents: None)
    root = settings.root_path
    path = _qa_file(root, "rsi_1.json", "RSI", ["What does the RSI measure?", "Why RSI?"])
    outcome = pipeline.process(path, dry_run=True)
    assert outcome.outcome == "dry-run" and outcome.result.stored == 2
    assert signed_ids(db) == set()
    assert indexed_ids(shared_index(db.engine)) == set()
    assert pipeline.process(path).outcome == "imported"
    assert indexed_ids(shared_index(db.engine)) == signed_ids(db) and len(signed_ids(db)) == 2


def test_pairs_another_process_committed_are_read_before_a_search(
    settings: Settings, db: Database
) -> None:
    """Another ``Database`` on the same file stands for another process: what it stores is
    in this one's index at its next search, and found."""
    pipeline, _status = assemble(settings, db, lambda _agents: None)
    root = settings.root_path
    other = Database(settings.url)
    try:
        other_pipeline, _ = assemble(settings, other, lambda _agents: None)
        first = _qa_file(root, "rsi_1.json", "RSI", ["What does the RSI measure?"])
        assert pipeline.process(first).outcome == "imported"  # this process's index loaded
        second = _qa_file(root, "mfi_2.json", "MFI", ["How is the MFI computed?"])
        assert other_pipeline.process(second).outcome == "imported"
        third = _qa_file(root, "mfi_3.json", "MFI", ["How is the MFI computed, exactly?"])
        assert pipeline.process(third).outcome == "imported"
    finally:
        other.dispose()
    assert marks(db)["How is the MFI computed, exactly?"] == "How is the MFI computed?"
    assert indexed_ids(shared_index(db.engine)) == signed_ids(db)
