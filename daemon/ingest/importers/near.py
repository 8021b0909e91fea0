"""Near-duplicates on import: the Q&A importer's new pairs searched and marked, or skipped.

Under ``near_duplicate_policy = flag`` a pair that resembles a stored pair (or an earlier pair
of the same file) is stored with ``near_duplicate_of`` and ``near_similarity``; under
``skip`` it is counted as a duplicate and not stored, as an exact duplicate is. Either way
the file's ledger details list them (``near_duplicates``). Every stored pair's signature is
written in the same transaction; its band keys go to the transaction's own pairs (searched by
the file's later chunks and the group's later files) and, once the file is committed, to the
process's index (docs/near-duplicates.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, select

from daemon.ingest.importers.base import ImportContext, ImportResult
from daemon.neardup.detector import Detector
from daemon.neardup.index import Pending, shared_index
from daemon.neardup.matcher import Match, mark, record, search_prints
from daemon.neardup.signature import Prints
from daemon.store.models import QAPairRow
from handlers.models import QAPair

KEY_LOOKUP_CHUNK = 500
DETAIL_LIMIT = 50  # examples listed per file; the count is always complete
STORED_OF_FILE = select(QAPairRow.question_key, QAPairRow.qa_id).where(
    QAPairRow.source_file_id == bindparam("file_id"),
    QAPairRow.question_key.in_(bindparam("keys", expanding=True)),
)
HIGHEST_ID = "SELECT max(qa_id) FROM qa_pairs"  # SQLite's, to the driver: once or twice a file
QUESTIONS_OF = select(QAPairRow.qa_id, QAPairRow.question).where(
    QAPairRow.qa_id.in_(bindparam("ids", expanding=True))
)


@dataclass
class Screened:
    """A chunk's new pairs that are to be stored, with their fingerprints and marks."""

    pairs: list[tuple[QAPair, str]]
    items: list[int]  # each kept pair's place among those searched
    prints: Prints
    matches: list[Match | None]


@dataclass
class NearDuplicates:
    """One file's near-duplicate search, chunk by chunk."""

    ictx: ImportContext
    result: ImportResult
    examples: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    # examples whose pair resembles an earlier one of its chunk: that one's key, till stored
    unresolved: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    publishing: bool = False  # the index's update after commit is asked for
    stored_before: int | None = None  # SQLite: the highest id before the chunk's insert

    @functools.cached_property
    def detector(self) -> Detector:
        return Detector.from_settings(self.ictx.settings)

    @property
    def enabled(self) -> bool:
        return self.ictx.settings.near_duplicate_policy != "off"

    @property
    def skipping(self) -> bool:
        return self.ictx.settings.near_duplicate_policy == "skip"

    def screen(self, fresh: list[tuple[QAPair, str]], prints: Prints) -> Screened:
        """Search the chunk's new pairs (``prints``: theirs, in order); under ``skip`` the
        near-duplicates are taken out (counted as duplicates), under ``flag`` kept with their
        match."""
        connection = self.ictx.db_session.connection()
        if connection.dialect.name == "sqlite":  # where this chunk's ids will begin
            self.stored_before = connection.exec_driver_sql(HIGHEST_ID).scalar() or 0
        matches = search_prints(
            self.ictx.db_session, self.detector, prints, chain_matched=not self.skipping
        )
        kept_pairs: list[tuple[QAPair, str]] = []
        kept_items: list[int] = []
        kept_matches: list[Match | None] = []
        position_of: dict[int, int] = {}  # a searched pair's position -> its place in kept
        for position, (entry, match) in enumerate(zip(fresh, matches, strict=True)):
            if match is not None:
                self._note(entry[0], match, fresh)
                if self.skipping:
                    self.result.duplicate += 1
                    continue
                if match.of_item is not None:  # an earlier pair of this chunk, kept
                    match = Match(match.similarity, of_item=position_of[match.of_item])
            position_of[position] = len(kept_pairs)
            kept_pairs.append(entry)
            kept_items.append(position)
            kept_matches.append(match)
        return Screened(kept_pairs, kept_items, prints.take(kept_items), kept_matches)

    def _note(self, pair: QAPair, match: Match, fresh: list[tuple[QAPair, str]]) -> None:
        self.count += 1
        self.result.near_duplicate += 1
        if len(self.examples) >= DETAIL_LIMIT:
            return
        example: dict[str, Any] = {
            "pair": pair.position,
            "of": match.of,
            "similarity": round(match.similarity, 3),
            "question": pair.question[:120],
            "resembles": None,
        }
        if match.of_item is not None:
            earlier, key = fresh[match.of_item]
            example["resembles"] = earlier.question[:120]
            self.unresolved.append((example, key))
        self.examples.append(example)

    def stored(self, screened: Screened) -> None:
        """The chunk's pairs are inserted: index them and mark the near-duplicates."""
        if not screened.pairs:
            return
        keys = [key for _, key in screened.pairs]
        qa_ids = self._new_ids(len(keys))
        if qa_ids:
            ids = dict(zip(keys, qa_ids, strict=True))
        else:
            ids = self._ids_of(keys)
            qa_ids = [ids[key] for key in keys]
        db_session = self.ictx.db_session
        connection = db_session.connection()
        indexed = record(connection, qa_ids, screened.prints)
        mark(connection, qa_ids, screened.matches)
        pending = Pending.of(db_session)
        pending.add(indexed)
        if not self.publishing and not self.ictx.dry_run:
            engine = db_session.get_bind()
            assert isinstance(engine, Engine)
            # committed: the transaction's pairs into the process's index, for every search
            publish = functools.partial(pending.publish, shared_index(engine))
            self.result.after_commit.append(publish)
            self.publishing = True
        for example, key in self.unresolved:  # the earlier pairs they resemble have an id now
            example["of"] = ids.get(key)
        self.unresolved.clear()

    def _new_ids(self, count: int) -> list[int]:
        """The chunk's ids, in the order inserted, on SQLite: the one writer gives each new
        row the highest id + 1, so they follow the highest before (checked: the highest
        moved by as many as inserted; otherwise, and on PostgreSQL, where other sessions
        draw from the sequence between our rows, they are looked up by question key)."""
        if self.stored_before is None:
            return []
        connection = self.ictx.db_session.connection()
        before, self.stored_before = self.stored_before, None
        highest = connection.exec_driver_sql(HIGHEST_ID).scalar() or 0
        # count new ids, each above the one before, within count of ``before``: all of them
        return list(range(before + 1, highest + 1)) if highest - before == count else []

    def _ids_of(self, keys: list[str]) -> dict[str, int]:
        connection = self.ictx.db_session.connection()
        found: dict[str, int] = {}
        for start in range(0, len(keys), KEY_LOOKUP_CHUNK):
            chunk = keys[start : start + KEY_LOOKUP_CHUNK]
            rows = connection.execute(STORED_OF_FILE, {"file_id": self.ictx.file_id, "keys": chunk})
            found.update((key, qa_id) for key, qa_id in rows if key is not None)
        return found

    def details(self) -> dict[str, Any]:
        """The ledger's ``near_duplicates``: policy, count, examples (with the questions
        they resemble)."""
        missing = {e["of"] for e in self.examples if e["of"] is not None and not e["resembles"]}
        if missing:
            connection = self.ictx.db_session.connection()
            questions = dict(connection.execute(QUESTIONS_OF, {"ids": sorted(missing)}).all())
            for example in self.examples:
                if example["resembles"] is None and example["of"] in questions:
                    example["resembles"] = questions[example["of"]][:120]
        return {
            "policy": self.ictx.settings.near_duplicate_policy,
            "count": self.count,
            "examples": self.examples,
        }
