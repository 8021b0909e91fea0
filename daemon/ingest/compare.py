"""The comparison report shown before a multi-session export is integrated (and on --dry-run).

Sessions in both / only in the export / only in the database, topic mismatches, duplicate
and unique question counts, answer lengths on the overlap and how many answers the
prefer-longer policy would replace, and the projected totals. Read-only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select

from daemon.store.models import QAPairRow, SessionPlan
from handlers.models import QAPair

if TYPE_CHECKING:
    from daemon.ingest.importers.base import ImportContext


class _Stored(Protocol):
    @property
    def qa_id(self) -> int: ...

    @property
    def answer_length(self) -> int: ...

    @property
    def from_this_file(self) -> bool: ...


def _mean(total: int, count: int) -> float:
    return round(total / count, 1) if count else 0.0


@dataclass
class ExportComparison:
    """The comparison, gathered chunk by chunk as an export is imported (whole or streamed).

    Everything is measured against the database as it was before the file: ``start`` is
    called before the first pair is stored, and a question is looked up once, at its first
    occurrence (later chunks see the rows this file stored or replaced, not the old ones).
    Only the questions stored before are remembered (their length then): a new question met
    again is found stored by this very file, so a large export of new pairs costs no memory
    per pair here.
    """

    db_topics: dict[int, set[str]]
    pairs_now: int
    ratio: float
    policy: str
    export_topics: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    before: dict[str, int] = field(default_factory=dict)  # key -> its stored answer's length
    delivered: int = 0
    new: int = 0
    overlap: int = 0
    export_length: int = 0
    database_length: int = 0
    longer: int = 0
    would_replace: int = 0

    @classmethod
    def start(cls, ictx: ImportContext) -> ExportComparison:
        db_session = ictx.db_session
        db_topics: dict[int, set[str]] = defaultdict(set)
        for number, name in db_session.execute(
            select(QAPairRow.session_number, QAPairRow.indicator_name)
            .where(QAPairRow.session_number.is_not(None))
            .distinct()
        ).all():
            if number is not None:  # (the query leaves none out; its type does not say so)
                db_topics[number].add(name or "")
        for number in db_session.scalars(select(SessionPlan.session_number)):
            db_topics.setdefault(number, set())
        pairs_now = db_session.scalar(select(func.count()).select_from(QAPairRow)) or 0
        return cls(
            dict(db_topics),
            pairs_now,
            ictx.settings.prefer_longer_ratio,
            ictx.settings.dedup_policy,
        )

    def add(self, pairs: list[QAPair], keys: list[str], already: Mapping[str, _Stored]) -> None:
        """One chunk: ``already`` is what the importer found stored for its keys (before
        this chunk's own rows)."""
        fresh: set[str] = set()  # new in this chunk (later chunks find them stored by this file)
        for pair, key in zip(pairs, keys, strict=True):
            self.delivered += 1
            if pair.session is not None:
                self.export_topics[pair.session].add(pair.indicator or "")
            length = self.before.get(key)
            if length is None:
                stored = already.get(key)
                if stored is None or stored.from_this_file:  # new, or new and met again
                    self.new += stored is None and key not in fresh
                    fresh.add(key)
                    continue
                length = self.before[key] = stored.answer_length
            answer = len(pair.answer)
            self.overlap += 1
            self.export_length += answer
            self.database_length += length
            self.longer += answer > length
            self.would_replace += answer >= self.ratio * length

    def report(self) -> dict[str, Any]:
        export_topics, db_topics = self.export_topics, self.db_topics
        both = sorted(set(export_topics) & set(db_topics))
        mismatches = [
            {"session": n, "export": sorted(export_topics[n]), "database": sorted(db_topics[n])}
            for n in both
            if db_topics[n]
            and not {t.casefold() for t in export_topics[n]} & {t.casefold() for t in db_topics[n]}
        ]
        unique = self.new + len(self.before)
        return {
            "sessions": {
                "in_export": len(export_topics),
                "in_both": both,
                "only_in_export": sorted(set(export_topics) - set(db_topics)),
                "only_in_database": sorted(set(db_topics) - set(export_topics)),
                "topic_mismatches": mismatches,
            },
            "questions": {
                "delivered": self.delivered,
                "unique_in_export": unique,
                "repeated_within_export": self.delivered - unique,
                "already_stored": self.overlap,
                "new": self.new,
            },
            "answers_on_overlap": {
                "mean_length_export": _mean(self.export_length, self.overlap),
                "mean_length_database": _mean(self.database_length, self.overlap),
                "longer_in_export": self.longer,
                "prefer_longer_would_replace": self.would_replace,
                "policy": self.policy,
            },
            "projected": {"pairs_now": self.pairs_now, "pairs_after": self.pairs_now + self.new},
        }
