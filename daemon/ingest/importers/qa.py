"""The Q&A importer: the only code that adds pairs, for every kind of file that carries them.

Deduplication is by question key across every file and agent: a pair whose key is stored
already (or came earlier in the same file) is counted as a duplicate, never silently dropped.
Under the ``prefer-longer`` policy, a duplicate whose answer is at least 20% longer replaces
the stored answer, and the replaced one is kept in ``answer_versions``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, false, func, select, update

from daemon.ingest.analysis import AnswerAnalysis, analyse_answer
from daemon.ingest.compare import ExportComparison
from daemon.ingest.importers import refinement
from daemon.ingest.importers.base import ImportContext, ImportResult
from daemon.ingest.importers.indicators import IndicatorBook
from daemon.ingest.importers.near import NearDuplicates
from daemon.ingest.preparing import CHUNK_PAIRS, PreparedChunk, default_indicator
from daemon.ingest.stream_worker import RemoteStream
from daemon.store.engine import insert_many
from daemon.store.locks import serialize_on
from daemon.store.models import AnswerVersion, QAPairRow
from handlers.models import QABatch, QAPair
from handlers.streaming import QAStream

Streamed = QAStream | RemoteStream  # a large file, read as it is imported

KEY_LOOKUP_CHUNK = 500
DETAIL_LIMIT = 50  # positions listed per file in details; counts are always complete


@dataclass(frozen=True)
class StoredPair:
    qa_id: int
    answer_length: int
    from_this_file: bool = False  # stored by an earlier chunk of the file being imported


# Built once (they run for every file): building a statement costs more than running it.
STORED_BY_KEY = select(
    QAPairRow.question_key,
    QAPairRow.qa_id,
    func.length(QAPairRow.answer),
    QAPairRow.source_file_id,
).where(
    QAPairRow.question_key.in_(bindparam("keys", expanding=True)),
    QAPairRow.key_conflict == false(),
)
QA_PAIRS = cast(Table, QAPairRow.__table__)  # SQLAlchemy types ``__table__`` loosely


def stored_pairs(ictx: ImportContext, keys: set[str]) -> dict[str, StoredPair]:
    """question_key -> the stored pair, for the keys already stored (answers not loaded)."""
    found: dict[str, StoredPair] = {}
    ordered = sorted(keys)
    connection = ictx.db_session.connection()  # plain statements: no ORM layer needed
    for start in range(0, len(ordered), KEY_LOOKUP_CHUNK):
        for key, qa_id, length, file_id in connection.execute(
            STORED_BY_KEY, {"keys": ordered[start : start + KEY_LOOKUP_CHUNK]}
        ).all():
            found[key] = StoredPair(qa_id, length or 0, file_id == ictx.file_id)
    return found


def file_defaults(batch: QABatch | Streamed, ictx: ImportContext) -> tuple[str, str | None]:
    """The file's indicator and category: its own fields, a configured mapping, else its name."""
    mapping = ictx.settings.file_mappings.get(ictx.file.name)
    indicator = default_indicator(
        batch.indicator, mapping.indicator if mapping else None, ictx.file.name
    )
    return indicator, batch.category or (mapping.category if mapping else None)


@dataclass
class _FileImport:
    """One file's import as it goes, chunk by chunk (a streamed file has many chunks)."""

    ictx: ImportContext
    batch: QABatch | Streamed
    result: ImportResult
    book: IndicatorBook
    default_indicator: str
    default_category: str | None
    comparison: ExportComparison | None = None  # a multi-session export's, from its 1st chunk
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    indicators: set[str] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)
    replaced: int = 0
    replaced_ids: set[int] = field(default_factory=set)  # stored before, answer replaced here
    done: int = 0
    near: NearDuplicates = field(init=False)

    def __post_init__(self) -> None:
        self.near = NearDuplicates(self.ictx, self.result)

    def add(self, chunk: PreparedChunk, total: int | None) -> None:
        """Store a chunk: duplicates counted (earlier in the file or stored), near-duplicates
        marked or skipped, the rest added."""
        ictx, batch = self.ictx, self.batch
        pairs, keys = chunk.pairs, chunk.keys
        already = stored_pairs(ictx, set(keys))
        if batch.source_database:
            if self.comparison is None:  # before the file stores anything
                self.comparison = ExportComparison.start(ictx)
            self.comparison.add(pairs, keys, already)
        fresh: list[tuple[QAPair, str]] = []
        items: list[int] = []  # each fresh pair's place in the chunk
        seen_here: set[str] = set()
        for item, (pair, key) in enumerate(zip(pairs, keys, strict=True)):
            self.done += 1
            given_session = pair.session or batch.session
            if given_session is not None:
                self.sessions.add(given_session)
            if key in already or key in seen_here:
                self._duplicate(pair, key, already)
                continue
            seen_here.add(key)
            fresh.append((pair, key))
            items.append(item)
            if ictx.progress and total and self.done % CHUNK_PAIRS == 0:
                ictx.progress(self.done, total)
        kept, screened = fresh, None
        if self.near.enabled:
            prints = chunk.prints_of(items, self.near.detector, self.default_indicator)
            screened = self.near.screen(fresh, prints)
            kept, items = screened.pairs, [items[i] for i in screened.items]
        rows = [
            _row(
                ictx,
                self.book,
                batch,
                (pair, key, chunk.analysis(item)),
                self.default_indicator,
                self.default_category,
            )
            for (pair, key), item in zip(kept, items, strict=True)
        ]
        if _insert(ictx, rows):
            # the refiner's status counts the records still waiting for their pair
            self.result.concerns.add(ictx.settings.refiner)
        if screened:
            self.near.stored(screened)
        self.result.stored += len(rows)
        self.indicators.update(row["indicator_name"] for row in rows)

    def _duplicate(self, pair: QAPair, key: str, already: dict[str, StoredPair]) -> None:
        """An exact duplicate: counted, listed, and under ``prefer-longer`` maybe its answer
        replaces the stored one."""
        ictx = self.ictx
        self.result.duplicate += 1
        stored = already.get(key)
        if stored is not None and stored.from_this_file and stored.qa_id not in self.replaced_ids:
            stored = None  # a repeat inside the file: never replaces its own pair
        if len(self.duplicates) < DETAIL_LIMIT:
            self.duplicates.append(
                {
                    "pair": pair.position,
                    "of": stored.qa_id if stored else None,
                    "question": pair.question[:120],
                }
            )
        if (
            ictx.settings.dedup_policy == "prefer-longer"
            and stored is not None
            and len(pair.answer) >= ictx.settings.prefer_longer_ratio * stored.answer_length
        ):
            _replace_answer(ictx, stored.qa_id, pair.answer, self.batch.source_database)
            already[key] = StoredPair(stored.qa_id, len(pair.answer), False)
            self.replaced += 1
            self.replaced_ids.add(stored.qa_id)


def apply(ictx: ImportContext, batch: QABatch | Streamed) -> ImportResult:
    result = ImportResult(filtered=batch.filtered, concerns={ictx.file.agent})
    indicator, category = file_defaults(batch, ictx)
    book = IndicatorBook.for_file(ictx.db_session, ictx.settings, ictx.now)
    state = _FileImport(ictx, batch, result, book, indicator, category)
    # Several daemons on one PostgreSQL: per indicator, one writer at a time from here to
    # commit, so indicator rows and pair numbers are read after the previous writer's commit.
    # A question shared across indicators may still race: its unique index raises, and the
    # pipeline runs this file again (db.KeyConflict), finding the question stored.
    if not isinstance(batch, QABatch):  # its indicators are known only as it is read
        serialize_on(ictx.db_session, (), "indicator", whole=True)
        for chunk in _chunks(batch):
            state.add(chunk, None)
            del chunk  # not held while the next is read: one chunk alive at a time
        skipped, skipped_count = batch.skipped, batch.skipped_count
    else:
        serialize_on(
            ictx.db_session,
            {pair.indicator or indicator for pair in batch.pairs},
            "indicator",
        )
        state.add(PreparedChunk.of(batch.pairs), len(batch.pairs))
        skipped, skipped_count = batch.skipped, len(batch.skipped)
    if ictx.progress:
        ictx.progress(state.done, state.done)
    result.skipped = skipped_count
    result.filtered = batch.filtered
    result.delivered = state.done + skipped_count
    if batch.source_database:  # (an export streamed without a usable pair has no chunk)
        comparison = state.comparison or ExportComparison.start(ictx)
        result.details["comparison"] = comparison.report()
    result.details.update(
        {
            "indicators": sorted(state.indicators),
            "sessions": sorted(state.sessions),
            "duplicates": state.duplicates,
            "replaced_answers": state.replaced,
            "skipped": [s.model_dump(exclude_none=True) for s in skipped[:DETAIL_LIMIT]],
        }
    )
    if state.near.enabled:
        result.details["near_duplicates"] = state.near.details()
    if batch.filtered:
        result.details["filtered_reason"] = batch.filtered_reason
    return result


def _chunks(batch: Streamed) -> Iterator[PreparedChunk]:
    """A large file's chunks: prepared by the second process, or read and keyed here."""
    if isinstance(batch, RemoteStream):
        yield from batch.prepared()
    else:
        for pairs in batch.chunks(CHUNK_PAIRS):
            chunk = PreparedChunk.of(pairs)
            del pairs  # the chunk holds them: not kept while the next is read
            yield chunk
            del chunk


def _insert(ictx: ImportContext, rows: list[dict[str, Any]]) -> int:
    """Bulk insert; pending refinement records for these questions are applied at once
    (their count is returned)."""
    if not rows:
        return 0
    connection = ictx.db_session.connection()
    for start in range(0, len(rows), CHUNK_PAIRS):
        # not the ORM's bulk path: no per-row bookkeeping for rows never loaded again
        insert_many(connection, QA_PAIRS, rows[start : start + CHUNK_PAIRS])
    if not refinement.any_pending(ictx.db_session):
        return 0
    keys = [row["question_key"] for row in rows]
    stored: list[tuple[int, str]] = []
    for start in range(0, len(keys), KEY_LOOKUP_CHUNK):
        rows_stored = ictx.db_session.execute(
            select(QAPairRow.qa_id, QAPairRow.question_key).where(
                QAPairRow.source_file_id == ictx.file_id,
                QAPairRow.question_key.in_(keys[start : start + KEY_LOOKUP_CHUNK]),
            )
        )
        stored += [(qa_id, key) for qa_id, key in rows_stored if key]
    return refinement.apply_pending(ictx.db_session, stored, ictx.now)


def _replace_answer(
    ictx: ImportContext, qa_id: int, answer: str, source_database: str | None
) -> None:
    """Keep the stored answer as a version, then store the longer one."""
    old = ictx.db_session.get(QAPairRow, qa_id)
    assert old is not None
    ictx.db_session.add(
        AnswerVersion(
            qa_id=qa_id,
            answer=old.answer,
            answer_length=len(old.answer),
            source_database=old.source_database,
            source_file_id=old.source_file_id,
            replaced_by_file_id=ictx.file_id,
            replaced_at=ictx.now,
        )
    )
    analysis = analyse_answer(answer)
    ictx.db_session.execute(
        update(QAPairRow)
        .where(QAPairRow.qa_id == qa_id)
        .values(
            answer=answer,
            answer_length=analysis.answer_length,
            has_formula=analysis.has_formula,
            has_examples=analysis.has_examples,
            has_sources=analysis.has_sources,
            crypto_specific=analysis.crypto_specific,
            source_file_id=ictx.file_id,
            source_database=source_database,
        )
    )


def _row(
    ictx: ImportContext,
    book: IndicatorBook,
    batch: QABatch | Streamed,
    kept: tuple[QAPair, str, AnswerAnalysis],  # the pair, its question key, its analysis
    default_indicator: str,
    default_category: str | None,
) -> dict[str, Any]:
    pair, key, analysis = kept
    name = pair.indicator or default_indicator
    session_number = pair.session or batch.session or book.planned_session(name)
    indicator = book.resolve(name, pair.category or default_category, session_number)
    return {
        "indicator_id": indicator.id,
        "indicator_name": indicator.indicator_name,
        "pair_number": book.next_pair_number(indicator.id),
        "question": pair.question,
        "answer": pair.answer,
        "difficulty_level": pair.difficulty,
        "answer_length": analysis.answer_length,
        "has_formula": analysis.has_formula,
        "has_examples": analysis.has_examples,
        "has_sources": analysis.has_sources,
        "crypto_specific": analysis.crypto_specific,
        "created_date": ictx.now.date().isoformat(),
        "question_key": key,
        "key_conflict": False,
        "session_number": session_number,
        "agent": ictx.file.agent,
        "source_file_id": ictx.file_id,
        "source_database": batch.source_database,
        "source_ref": pair.source_id,
    }
