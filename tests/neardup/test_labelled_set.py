"""The detector on the labelled set (tests/data/near_duplicates/): precision and recall at the
default threshold, printed, and failing below the issue's floor (0.95 / 0.90).

Each labelled pair goes through the real search on a real (empty) SQLite database: ``a`` is the
batch's first pair, ``b`` its second; ``b`` is a near-duplicate when it is matched to ``a``
(through the LSH bands, then confirmed), as an import of the two would mark it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from daemon.config import Settings
from daemon.neardup.detector import Detector
from daemon.neardup.matcher import search
from daemon.store.engine import Database
from tests.data.near_duplicates import generate

PRECISION_FLOOR = 0.95
RECALL_FLOOR = 0.90


@dataclass
class Score:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive / (self.true_positive + self.false_negative)


def labelled() -> list[dict[str, object]]:
    lines = generate.OUTPUT.read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines]


def score(db: Database, detector: Detector) -> tuple[Score, dict[str, Score]]:
    total = Score()
    by_kind: dict[str, Score] = {}
    with db.reader() as session:
        for row in labelled():
            texts = [
                (str(row["a"]), "", str(row["indicator_a"])),
                (str(row["b"]), "", str(row["indicator_b"])),
            ]
            _, matches = search(session, detector, texts)
            found = matches[1] is not None and matches[1].of_item == 0
            for tally in (total, by_kind.setdefault(str(row["kind"]), Score())):
                if row["duplicate"]:
                    tally.true_positive += found
                    tally.false_negative += not found
                else:
                    tally.false_positive += found
                    tally.true_negative += not found
    return total, by_kind


def test_the_committed_set_is_what_the_generator_writes() -> None:
    assert generate.render(generate.generate()) == generate.OUTPUT.read_text("utf-8")


def test_precision_and_recall_at_the_default_threshold(db: Database, tmp_path: Path) -> None:
    detector = Detector.from_settings(Settings(root=tmp_path))
    total, by_kind = score(db, detector)
    print(
        f"\nnear-duplicates at threshold {detector.threshold}: "
        f"precision {total.precision:.3f}, recall {total.recall:.3f} "
        f"(tp {total.true_positive}, fp {total.false_positive}, "
        f"fn {total.false_negative}, tn {total.true_negative})"
    )
    for kind, tally in sorted(by_kind.items()):
        kept = tally.true_positive if kind == "paraphrase" else tally.true_negative
        print(f"  {kind}: {kept} of {kept + tally.false_negative + tally.false_positive} right")
    assert total.precision >= PRECISION_FLOOR
    assert total.recall >= RECALL_FLOOR


@pytest.mark.parametrize("kind", ["indicator", "number", "timeframe"])
def test_no_hard_negative_is_merged_whatever_the_threshold(
    db: Database, tmp_path: Path, kind: str
) -> None:
    """Anchors, not the threshold, keep them apart: even a low threshold merges none."""
    _, by_kind = score(db, Detector(threshold=0.2))
    assert by_kind[kind].false_positive == 0
    assert by_kind[kind].true_negative > 0
