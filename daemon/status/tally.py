"""The whole-table figures of a status, kept current by reading only the rows added since.

A status write follows every file, so its cost must not grow with the database: the figures
that need whole tables (pairs per session and indicator, each agent's sessions, the ledger's
sums) are kept by a ``StoredTally`` that reads only the rows added since its last look.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, literal, select

from daemon.store.engine import Reader
from daemon.store.models import FileRecord, QAPairRow
from handlers import pair_kinds

# a writer's tally is counted afresh this often (daemon/status/writer: in the background)
FULL_RECOUNT_SECONDS = 60.0
SNAPSHOT_ATTEMPTS = 3  # a full count that saw commits land meanwhile is done again

# Built once: building a statement costs more than running it here.
_PAIRS_MAX = select(func.max(QAPairRow.qa_id)).scalar_subquery()
_PAIRS_COUNT = select(func.count()).select_from(QAPairRow).scalar_subquery()
_FILES_MAX = select(func.max(FileRecord.id)).scalar_subquery()
_FILES_COUNT = select(func.count()).select_from(FileRecord).scalar_subquery()
# what tells one version of a row from another under the same id (SQLite gives a deleted
# highest id to the next insert): a pair's question key, a ledger row's processing time
PAIR_MARK = select(QAPairRow.question_key).where(QAPairRow.qa_id == bindparam("pairs_at"))
FILE_MARK = select(FileRecord.processed_at).where(FileRecord.id == bindparam("files_at"))
# highest id, row count and the mark of the row last counted, of both tables, in one
# statement: one point in time (one read transaction in SQLite, one snapshot in PostgreSQL)
SNAPSHOT = select(
    _PAIRS_MAX,
    _PAIRS_COUNT,
    PAIR_MARK.scalar_subquery(),
    _FILES_MAX,
    _FILES_COUNT,
    FILE_MARK.scalar_subquery(),
)
PAIRS_GROUPED = select(QAPairRow.session_number, QAPairRow.indicator_name, func.count()).group_by(
    QAPairRow.session_number, QAPairRow.indicator_name
)
AGENT_SESSIONS = (
    select(QAPairRow.agent, QAPairRow.session_number)
    .distinct()
    .where(QAPairRow.session_number.is_not(None))
)
# new rows are read one by one and added up here: with a GROUP BY, SQLite walks a whole
# index in group order instead of the primary key's short range
NEW_PAIRS = select(
    QAPairRow.qa_id,
    QAPairRow.agent,
    QAPairRow.session_number,
    QAPairRow.indicator_name,
    QAPairRow.question_key,
).where(QAPairRow.qa_id > bindparam("above"), QAPairRow.qa_id <= bindparam("upto"))
FILES_GROUPED = (
    select(
        FileRecord.agent,
        FileRecord.outcome,
        func.count(),
        func.sum(FileRecord.pairs_stored),
        func.sum(FileRecord.pairs_duplicate),
        func.sum(FileRecord.pairs_skipped),
        func.sum(FileRecord.pairs_filtered),
        func.sum(FileRecord.pairs_near_duplicate),
    )
    .where(FileRecord.id > bindparam("above"), FileRecord.id <= bindparam("upto"))
    .group_by(FileRecord.agent, FileRecord.outcome)
)
NEW_FILES = select(
    FileRecord.agent,
    FileRecord.outcome,
    literal(1),
    FileRecord.pairs_stored,
    FileRecord.pairs_duplicate,
    FileRecord.pairs_skipped,
    FileRecord.pairs_filtered,
    FileRecord.pairs_near_duplicate,
    FileRecord.id,
    FileRecord.processed_at,
    FileRecord.kind,
).where(FileRecord.id > bindparam("above"), FileRecord.id <= bindparam("upto"))
TIERS = (  # partial index: only the refined rows
    select(QAPairRow.tier, func.count())
    .where(QAPairRow.tier.is_not(None))
    .group_by(QAPairRow.tier)
    .order_by(QAPairRow.tier)
)
DUPLICATE_ONLY_FILES = (  # data files that brought only duplicates: few, details read
    select(FileRecord.agent, FileRecord.details).where(
        FileRecord.id > bindparam("above"),
        FileRecord.id <= bindparam("upto"),
        FileRecord.kind.in_(bindparam("kinds", expanding=True)),  # handlers.pair_kinds()
        FileRecord.pairs_stored == 0,
        FileRecord.pairs_duplicate > 0,
    )
)


class StoredTally:
    """Whole-table counts of ``qa_pairs`` and the ledger, kept current by reading new rows only.

    Why this is exact: the columns counted here are final once a row is committed (a pair's
    agent, session and indicator; a ledger row's agent, outcome and pair counts), inboxd
    never deletes a pair, and the ledger loses a row only to ``inboxd retry``. So each
    ``refresh`` reads each table's highest id and row count, and the row last counted (is
    it still the same row?), then only the rows between that one and the highest id. A
    deleted row, a row replaced under the same id, or (PostgreSQL) a row committed late
    under a lower id by another daemon makes the counts disagree with the table, and that
    table is counted again in full. A ``StatusWriter`` also counts a new tally every
    ``FULL_RECOUNT_SECONDS``, off its writes, and takes it in place of its own, so a change
    made behind inboxd's back (a user's script updating rows) shows within a minute or so.
    Not thread-safe: one instance per ``StatusWriter``, which writes one status at a time.
    """

    def __init__(self) -> None:
        self._pairs_upto: int | None = None  # highest qa_id counted; None: count everything
        self._pairs_mark: Any = None  # the question key of that row
        self._pairs_total = 0
        self._pair_counts: Counter[tuple[int | None, str | None]] = Counter()
        self._agent_sessions: defaultdict[str | None, set[int]] = defaultdict(set)
        self._by_session: dict[int, dict[str, int]] | None = None
        self._files_upto: int | None = None  # highest files.id counted; None: everything
        self._files_mark: Any = None  # the processing time of that row
        self._files_total = 0
        self._outcomes: Counter[str] = Counter()
        # agent -> [stored, duplicate, skipped, filtered, near-duplicate]
        self._agent_sums: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        # agent -> sessions of its data files that brought only duplicates
        self._duplicate_only: defaultdict[str, set[int]] = defaultdict(set)
        self._tiers: dict[str, int] | None = None  # refined pairs per tier; None: count

    # -- reading the database --------------------------------------------------------------
    def refresh(self, reader: Reader) -> None:
        """Bring the counts up to what is committed now: one query when nothing changed."""
        # a disagreement makes the next attempt count that table in full; commits landing
        # meanwhile make it disagree too, hence a few attempts (after which the last counts
        # are shown, and the next refresh counts everything again)
        try:
            for _ in range(SNAPSHOT_ATTEMPTS):
                snap = reader.execute(
                    SNAPSHOT,
                    {
                        "pairs_at": -1 if self._pairs_upto is None else self._pairs_upto,
                        "files_at": -1 if self._files_upto is None else self._files_upto,
                    },
                ).one()
                pairs_agree = self._add_pairs(reader, snap[0] or 0, snap[1] or 0, snap[2])
                if self._add_files(reader, snap[3] or 0, snap[4] or 0, snap[5]) and pairs_agree:
                    return
        except BaseException:  # e.g. the database went away half-way: count all next time
            self._pairs_upto = self._files_upto = None
            raise

    def _add_pairs(self, reader: Reader, upto: int, total: int, mark: Any) -> bool:
        """Count the pairs up to qa_id ``upto`` not counted yet; False (and everything to
        count next time) unless the tally then holds ``total`` rows, as the table did.
        ``mark``: the question key of the row last counted, as the table has it now."""
        if self._pairs_upto is not None and mark != self._pairs_mark:
            self._pairs_upto = None  # that row is gone, or another took its id
        if self._pairs_upto == upto and self._pairs_total == total:
            return True  # nothing new
        if self._pairs_upto is None:  # everything: two GROUP BYs over covering indexes
            self._pairs_total = 0
            self._pair_counts.clear()
            self._agent_sessions.clear()
            for number, name, count in reader.execute(PAIRS_GROUPED):
                self._pair_counts[(number, name)] += count
                self._pairs_total += count
            for agent, number in reader.execute(AGENT_SESSIONS):
                if number is not None:  # (the statement's WHERE already leaves them out)
                    self._agent_sessions[agent].add(number)
            new_mark = reader.scalar(PAIR_MARK, {"pairs_at": upto})
        else:
            new_mark = self._pairs_mark
            for qa_id, agent, number, name, key in reader.execute(
                NEW_PAIRS, {"above": self._pairs_upto, "upto": upto}
            ):
                self._pair_counts[(number, name)] += 1
                if number is not None:
                    self._agent_sessions[agent].add(number)
                self._pairs_total += 1
                if qa_id == upto:
                    new_mark = key
        self._by_session = None
        agrees = self._pairs_total == total
        self._pairs_upto, self._pairs_mark = (upto, new_mark) if agrees else (None, None)
        return agrees

    def _add_files(self, reader: Reader, upto: int, total: int, mark: Any) -> bool:
        """Count the ledger rows up to id ``upto`` not counted yet; False (and everything
        to count next time) unless the tally then holds ``total`` rows. ``mark``: the
        processing time of the row last counted, as the table has it now."""
        if self._files_upto is not None and mark != self._files_mark:
            self._files_upto = None  # e.g. ``inboxd retry`` replaced the latest row
        if self._files_upto == upto and self._files_total == total:
            return True
        bounds = {"above": -1 if self._files_upto is None else self._files_upto, "upto": upto}
        new_mark = self._files_mark
        rows: Sequence[tuple[Any, ...]]  # NEW_FILES' columns; a group has no id or time
        if self._files_upto is None:
            self._files_total = 0
            self._outcomes.clear()
            self._agent_sums.clear()
            self._duplicate_only.clear()
            rows = [(*row, None, None, None) for row in reader.execute(FILES_GROUPED, bounds)]
            new_mark = reader.scalar(FILE_MARK, {"files_at": upto})
            self._tiers = None
        else:
            rows = reader.execute(NEW_FILES, bounds).all()
            kinds = pair_kinds()
            if any(row[-1] not in kinds for row in rows):
                self._tiers = None  # a refinement (or another file that is no delivery of
                # pairs) may have set tiers; a Q&A delivery never does
        for agent, outcome, count, *counts, row_id, at, _kind in rows:
            self._outcomes[outcome] += count
            sums = self._agent_sums[agent]
            for i, value in enumerate(counts):  # stored, duplicate, skipped, filtered, near
                sums[i] += value or 0
            self._files_total += count
            if row_id == upto:
                new_mark = at
        duplicate_only = {**bounds, "kinds": pair_kinds()}
        for agent, details in reader.execute(DUPLICATE_ONLY_FILES, duplicate_only):
            if isinstance(details, dict):
                self._duplicate_only[agent].update(details.get("sessions", []))
        agrees = self._files_total == total
        self._files_upto, self._files_mark = (upto, new_mark) if agrees else (None, None)
        return agrees

    def tiers(self, reader: Reader) -> dict[str, int]:
        """Refined pairs per quality tier, counted again only after a file that is no Q&A
        delivery, or with the whole tally: a tier is set by a refinement file, and counting
        them is most of a status write at a million pairs (docs/performance.md)."""
        if self._tiers is None:
            self._tiers = {tier: n for tier, n in reader.execute(TIERS) if tier is not None}
        return dict(self._tiers)

    @property
    def files_upto(self) -> int | None:
        """The highest ledger id counted (None: the next refresh counts everything)."""
        return self._files_upto

    # -- what the view asks ----------------------------------------------------------------
    def pairs_by_session(self) -> dict[int, dict[str, int]]:
        """As ``coverage.pairs_by_session``: session number -> {indicator name -> pairs}.

        Built once per change of the counts; callers must not modify it.
        """
        if self._by_session is None:
            found: dict[int, dict[str, int]] = defaultdict(dict)
            for (number, name), count in self._pair_counts.items():
                if number is not None and count:
                    key = name or ""
                    found[number][key] = found[number].get(key, 0) + count
            self._by_session = found
        return self._by_session

    def sessions_of(self, agent: str) -> set[int]:
        """Sessions in which ``agent``'s stored pairs fall."""
        return set(self._agent_sessions.get(agent, ()))

    def duplicate_only_sessions(self, agent: str) -> set[int]:
        return set(self._duplicate_only.get(agent, ()))

    def file_sums(self, agent: str) -> tuple[int, int, int, int]:
        """(stored, duplicate, skipped, filtered) over ``agent``'s ledger rows."""
        stored, duplicate, skipped, filtered, _ = self._agent_sums.get(agent, (0, 0, 0, 0, 0))
        return stored, duplicate, skipped, filtered

    def near_duplicates(self, agent: str) -> int:
        """Near-duplicates found in ``agent``'s deliveries (marked or skipped)."""
        return self._agent_sums.get(agent, (0, 0, 0, 0, 0))[4]

    @property
    def pairs_total(self) -> int:
        return self._pairs_total

    def outcomes(self) -> dict[str, int]:
        return {outcome: n for outcome, n in sorted(self._outcomes.items()) if n}

    def duplicates_total(self) -> int:
        return sum(sums[1] for sums in self._agent_sums.values())


def fresh_tally(reader: Reader) -> StoredTally:
    """A tally counted now (one-shot commands)."""
    tally = StoredTally()
    tally.refresh(reader)
    return tally
