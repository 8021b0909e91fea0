"""What decides a near-duplicate, and what of a pair is compared: no database here.

Kept apart from the search (``matcher``) so the process that prepares a large file's chunks
(``daemon/ingest/stream_child.py``) fingerprints pairs without importing SQLAlchemy.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from daemon.neardup.signature import Prints, fingerprints
from daemon.neardup.text import Shingles, jaccard, shingles

if TYPE_CHECKING:
    from daemon.config import Settings

Text = tuple[str, str, str | None]  # a pair's question, answer and indicator name

# A stored question is read again for every pair it is a candidate of: popular ones often,
# and recent ones (a new pair is soon a candidate of the next). 2,048 questions are ~2 MiB;
# 16,384 were ~16 MiB of a process's memory for good (docs/performance.md).
_question_shingles = functools.lru_cache(maxsize=1 << 11)(shingles)


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

    def shingles(self, text: Text, *, remember: bool = True) -> Shingles:
        """``remember``: the question's kept for the next time (``_question_shingles``);
        not by the second process, which sees each new question once and confirms none."""
        question, answer, indicator = text
        asked = (_question_shingles if remember else shingles)(question, indicator)
        if not self.with_answer:
            return asked
        return Shingles(asked.words | shingles(answer, indicator).words, asked.anchors)

    def prints(self, texts: Sequence[Text], *, remember: bool = True) -> Prints:
        """The texts' fingerprints, in one numpy pass."""
        return fingerprints([self.shingles(text, remember=remember) for text in texts])

    def confirm(self, mine: Shingles, theirs: Shingles) -> float | None:
        """Their similarity when it makes a near-duplicate: the same anchors, and words alike
        at least to the threshold (an empty text resembles nothing)."""
        if mine.anchors != theirs.anchors or not mine.words or not theirs.words:
            return None
        similarity = jaccard(mine.words, theirs.words)
        return similarity if similarity >= self.threshold else None
