"""A chunk of pairs made ready for the Q&A importer: what needs no database, done ahead.

A pair's question key, its answer's analysis and its near-duplicate fingerprint depend on the
pair alone. A large file's chunks are prepared in a second process while this one stores the
chunk before (``daemon/ingest/stream_worker.py``): they arrive with all three. A chunk read
here carries its keys only; its analyses and fingerprints are made for the pairs the importer
keeps (a duplicate needs neither).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from daemon.ingest.analysis import AnswerAnalysis, analyse_answer
from daemon.neardup.detector import Detector, Text
from daemon.neardup.signature import Prints
from handlers.contract import FileContext
from handlers.models import QAPair
from handlers.text import indicator_from_filename, question_key

CHUNK_PAIRS = 1000  # pairs a chunk: the importer's lookups and inserts go by this many


def default_indicator(own: str | None, mapped: str | None, file_name: str) -> str:
    """A pair's indicator when it names none: the file's own, a configured mapping's, else
    the one its name gives."""
    return own or mapped or indicator_from_filename(file_name)


def text_of(pair: QAPair, indicator: str) -> Text:
    """What the near-duplicate search compares of a pair."""
    return pair.question, pair.answer, pair.indicator or indicator


@dataclass
class PreparedChunk:
    """Pairs with their question keys and, when prepared ahead, analyses and fingerprints."""

    pairs: list[QAPair]
    keys: list[str]
    analyses: list[AnswerAnalysis] | None = None
    prints: Prints | None = None  # every pair's, in order (prepared with the search on)

    @classmethod
    def of(cls, pairs: list[QAPair]) -> PreparedChunk:
        """A chunk read in this process: its keys now, the rest for the pairs kept."""
        return cls(pairs, [question_key(pair.question) for pair in pairs])

    def analysis(self, item: int) -> AnswerAnalysis:
        if self.analyses is not None:
            return self.analyses[item]
        return analyse_answer(self.pairs[item].answer)

    def prints_of(self, items: Sequence[int], detector: Detector, indicator: str) -> Prints:
        """These pairs' fingerprints, in this order (``indicator``: the file's default)."""
        if self.prints is not None:
            return self.prints.take(items)
        return detector.prints([text_of(self.pairs[item], indicator) for item in items])


def prepare(pairs: list[QAPair], detector: Detector | None, indicator: str) -> PreparedChunk:
    """Everything a chunk's pairs need before the database: the second process's job."""
    return PreparedChunk(
        pairs,
        [question_key(pair.question) for pair in pairs],
        [analyse_answer(pair.answer) for pair in pairs],
        (
            detector.prints([text_of(pair, indicator) for pair in pairs], remember=False)
            if detector
            else None
        ),
    )


@dataclass(frozen=True)
class StreamRequest:
    """What the second process needs to read a large file and prepare its chunks."""

    path: Path  # the archived copy
    ctx: FileContext
    handler: str  # the handler's name: the second process finds its streaming reader
    mapped_indicator: str | None  # the file's configured mapping (``file_mappings``)
    detector: Detector | None  # None: the near-duplicate search is off
    chunk: int = CHUNK_PAIRS
