"""The LSH index, in memory: each stored pair's 16 band keys, from the stored signatures.

One index per database and process (``shared_index``), loaded from ``near_signatures`` at the
first search (the band keys are recomputed from the MinHash and the anchors' digest: nothing
else is stored) and brought up to date before every search (``refresh``): pairs other
processes and hosts committed since the last look are read then.

Memory: one unsigned 64-bit word per (pair, band), the band key's low 32 bits above the
pair's id, sorted and searched with ``searchsorted`` (``daemon.neardup.words``): 16 words,
128 bytes a pair (122 MiB at 1,000,000 pairs), plus a small set of the pairs added since the
last merge, merged into the first when it holds a 32nd of it. 32-bit keys: two
different band keys meet by chance with probability 2⁻³² per stored key, so a pair searched
against 1,000,000 others (16 million keys) gets 16 x 16M / 2³² ≈ 0.06 false candidates:
each is confirmed on its text anyway (``matcher``), and costs one more row read.

A transaction's own pairs are held apart (``Pending``, on the session) until it commits: see
that class.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, bindparam, func, select, text
from sqlalchemy.orm import Session

from daemon.neardup.signature import BANDS, EMPTY, NUM_PERM, U32, U64, band_keys_array
from daemon.neardup.words import LOW, Words, packed
from daemon.store.engine import savepoint_aware
from daemon.store.models import NearSignature, QAPairRow

LOOKUP_CHUNK = 500  # ids per IN (...)
LOAD_CHUNK = 20_000  # signatures read and banded at a time: their rows cost ~1 KB each
LATE_LIMIT = 1000  # missing ids a look keeps watching (the highest: the running hold those)
MERGE_MIN, MERGE_MAX = 256 * BANDS, 4096 * BANDS  # recent keys merged into the array

_SIGNATURES_AFTER_SQLITE = (
    "SELECT qa_id, anchors, minhash FROM near_signatures WHERE qa_id > ? ORDER BY qa_id LIMIT ?"
)
# PostgreSQL: the pairs above an id with their signature if any (a pair without one was
# stored with the search off: it is no gap), in one snapshot
_PAIRS_AFTER = (
    select(QAPairRow.qa_id, NearSignature.anchors, NearSignature.minhash)
    .outerjoin(NearSignature, NearSignature.qa_id == QAPairRow.qa_id)
    .where(QAPairRow.qa_id > bindparam("after"))
    .order_by(QAPairRow.qa_id)
)
_PAIRS_IN = (
    select(QAPairRow.qa_id, NearSignature.anchors, NearSignature.minhash)
    .outerjoin(NearSignature, NearSignature.qa_id == QAPairRow.qa_id)
    .where(QAPairRow.qa_id.in_(bindparam("ids", expanding=True)))
)
_HIGHEST = select(func.max(NearSignature.qa_id))
_COUNT_AFTER = (
    select(func.count()).select_from(NearSignature).where(NearSignature.qa_id > bindparam("after"))
)
# the look's snapshot and the highest pair id in it, in one round trip
_SNAPSHOT = text(
    "SELECT txid_snapshot_xmin(s), txid_snapshot_xmax(s), (SELECT max(qa_id) FROM qa_pairs)"
    " FROM txid_current_snapshot() AS s"
)


@dataclass(frozen=True)
class Added:
    """Stored pairs for the index: their ids and band keys (n x BANDS), those with words.
    Only a key's low 32 bits go into the index (``packed``): only they are kept."""

    ids: npt.NDArray[np.int64]
    keys: U32

    @classmethod
    def of(cls, ids: npt.NDArray[np.int64], keys: U64) -> Added:
        return cls(ids, (keys & LOW).astype(np.uint32))


def _no_ids() -> npt.NDArray[np.int64]:
    return np.empty(0, dtype=np.int64)


def _sorted_union(
    known: npt.NDArray[np.int64], more: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Sorted ids ``known`` with ``more`` (taken, sorted in place; unique, none in
    ``known``): ``more`` itself when nothing is known, appended when all above (a file's own
    ids, the usual case), no sort of a copy as ``union1d`` makes."""
    more.sort()
    if not len(known):
        return more
    if not len(more) or more[0] > known[-1]:
        joined: npt.NDArray[np.int64] = np.concatenate([known, more])
        return joined
    return np.union1d(known, more)


@dataclass
class _Late:
    """Ids a PostgreSQL look found missing below the highest it read (no pair: a transaction
    still running, or rolled back), and its snapshot's ``xmax``: every transaction that may
    still commit them has a lower xid."""

    missing: set[int]
    xmax: int


@dataclass
class BandIndex:
    """The shared index of one database in this process (see the module's doc)."""

    main: Words = field(default_factory=Words)
    recent: Words = field(default_factory=Words)  # added since the last merge: small
    high: int = -1  # the highest id read by a look; -1: never loaded
    late: list[_Late] = field(default_factory=list)
    # ids in the index above the highest a look read, sorted: 8 bytes an id
    seen_above: npt.NDArray[np.int64] = field(default_factory=_no_ids)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pairs(self) -> int:
        return (len(self.main) + len(self.recent)) // BANDS

    def candidates(self, keys: U64) -> dict[int, set[int]]:
        """The ids sharing a band key with each row of ``keys`` (n x BANDS), by row: a row
        without any has no entry."""
        found: dict[int, set[int]] = {}
        low = (keys & LOW).ravel()
        with self.lock:
            self.main.lookup(low, found)
            self.recent.lookup(low, found)
        return found

    def add(self, added: Added) -> None:
        """Pairs committed by this process (their signatures stored)."""
        words = Words()
        words.insert(packed(added.keys, added.ids), owned=True)
        self.publish(added.ids.copy(), words)

    def publish(self, ids: npt.NDArray[np.int64], words: Words) -> None:
        """Pairs committed by this process: their ids and words, both taken (``ids`` may be
        kept or reordered; ``words`` is left empty: a large file's move here, not copied)."""
        with self.lock:
            if len(self.seen_above):  # added already: not twice
                known = np.isin(ids, self.seen_above)
                if known.any():
                    words.remove(ids[known])
                    ids = ids[~known]
            # a later look reads what is above the highest id read: known when it does
            above = ids if not len(ids) or ids.min() > self.high else ids[ids > self.high]
            self.seen_above = _sorted_union(self.seen_above, above)
            for late in self.late:  # committed and in the index: no longer to watch
                watched = np.fromiter(late.missing, dtype=np.int64, count=len(late.missing))
                late.missing.difference_update(watched[np.isin(watched, ids)].tolist())
            self.recent.absorb(words)
            self._merge_if_due()

    def _merge_if_due(self, force: bool = False) -> None:
        """The recent pairs into the main set once they hold a 32nd of it (between 256 and
        4,096 pairs; a large file's at once): a merge copies the main set one bucket at a
        time (``Words``), the recent one is sorted at each add."""
        due = min(max(MERGE_MIN, len(self.main) // 32), MERGE_MAX)
        if len(self.recent) and (force or len(self.recent) >= due):
            self.main.absorb(self.recent)

    def merge(self) -> None:
        """Everything into the main array (after a bulk of additions)."""
        with self.lock:
            self._merge_if_due(force=True)

    # -- the looks -----------------------------------------------------------------------
    def refresh(self, engine: Engine) -> None:
        """Read the signatures committed since the last look (all of them the first time).

        SQLite has one writer at a time and gives ids in commit order: the signatures above
        the highest id read are all that is new. PostgreSQL's ids come from a sequence, taken
        at insert: a transaction holding id 100 may commit after one holding 105 was read,
        and a plain ``qa_id > highest`` would never see it. So each look runs in one
        REPEATABLE READ snapshot, reads the pairs above the highest id read before (with
        their signature, if any: a pair stored with the search off is no gap) and notes the
        ids missing below the new highest (not committed yet, or rolled back), with the
        snapshot's ``xmax``: a transaction that may still commit one of them was running,
        so has a lower xid (it wrote its ledger row before drawing a pair's id). Later looks
        read those ids again, by id, until they are found or a look's snapshot ``xmin`` is
        at or past that ``xmax``: every such transaction has ended, and that look saw what
        they committed. Never a pair missed, at the cost of a lookup by id per look while
        a gap is open (up to LATE_LIMIT ids a look: the highest missing, those the
        transactions still running hold). A ``dedup --rebuild`` run elsewhere signs old ids,
        below the highest: its signatures are read at the next start
        (docs/near-duplicates.md).
        """
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
                self._look_postgresql(connection)
            else:
                self._look_sqlite(connection)

    def _look_sqlite(self, connection: Connection) -> None:
        highest = connection.scalar(_HIGHEST)
        if highest is None or highest < self.high:  # emptied, or another file restored
            self._reset()
            if highest is None:
                self.high = 0
                return
        if highest == self.high:
            return
        first = self.high < 0  # a first load is sized from a count; a look after, small
        bulk = _Bulk(connection.scalar(_COUNT_AFTER, {"after": self.high}) or 0 if first else 0)
        while True:
            # the driver's rows as they are: a million go through here at a start
            rows = connection.exec_driver_sql(_SIGNATURES_AFTER_SQLITE, (self.high, LOAD_CHUNK))
            batch: list[tuple[int, int, bytes]] = list(
                rows.cursor.fetchall() if rows.cursor else []
            )
            rows.close()
            if not batch:
                break
            self.high = max(self.high, batch[-1][0])
            bulk.add(self._banded(batch))
        self._take(bulk)
        self.seen_above = self.seen_above[self.seen_above > self.high]

    def _look_postgresql(self, connection: Connection) -> None:
        xmin, xmax, highest = connection.execute(_SNAPSHOT).one()
        if highest is not None and highest < self.high:  # emptied, or another restored
            self._reset()
        if highest == self.high and not self.late:  # nothing new, nothing watched
            return
        high_before, first = max(self.high, 0), self.high < 0
        bulk = _Bulk(connection.scalar(_COUNT_AFTER, {"after": high_before}) or 0 if first else 0)
        above: list[npt.NDArray[np.int64]] = []  # the ids of every pair above, signed or not
        # a first load streams (a million rows); a look after reads a few in one go
        options = {"stream_results": True, "yield_per": LOAD_CHUNK} if first else {}
        streamed = connection.execution_options(**options)
        for part in streamed.execute(_PAIRS_AFTER, {"after": high_before}).partitions(LOAD_CHUNK):
            above.append(np.array([row[0] for row in part], dtype=np.int64))
            bulk.add(self._banded([(i, a, m) for i, a, m in part if m is not None]))
        watched = sorted(set().union(*(late.missing for late in self.late)))
        present: set[int] = set()
        for start in range(0, len(watched), LOOKUP_CHUNK):
            found = connection.execute(_PAIRS_IN, {"ids": watched[start : start + LOOKUP_CHUNK]})
            rows = [(qa_id, anchors, minhash) for qa_id, anchors, minhash in found]
            present.update(qa_id for qa_id, _, _ in rows)
            bulk.add(self._banded([row for row in rows if row[2] is not None]))
        for late in self.late:
            late.missing -= present
        self.late = [late for late in self.late if late.missing and late.xmax > xmin]
        ids = np.concatenate(above) if above else np.empty(0, dtype=np.int64)
        if len(ids):
            high_after = int(ids.max())
            expected = np.arange(high_before + 1, high_after + 1, dtype=np.int64)
            missing = np.setdiff1d(expected, ids, assume_unique=True)[-LATE_LIMIT:]
            if len(missing):
                self.late.append(_Late(set(missing.tolist()), xmax))
            self.high = high_after
        self._take(bulk)
        self.seen_above = self.seen_above[self.seen_above > self.high]

    def _banded(self, rows: list[tuple[int, int, bytes]]) -> U64:
        """The words of signatures read from the database (those already known skipped)."""
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        anchors = np.array([row[1] for row in rows], dtype=np.int64)
        values = np.frombuffer(b"".join(row[2] for row in rows), dtype="<u4")
        values = values.reshape(len(rows), NUM_PERM)
        keep = ~(values == EMPTY).all(axis=1)  # a text with no word is never matched
        if len(self.seen_above):
            keep &= ~np.isin(ids, self.seen_above)
        return packed(band_keys_array(values[keep], anchors[keep]), ids[keep])

    def _take(self, bulk: _Bulk) -> None:
        words = bulk.words()
        if len(words):
            with self.lock:
                self.main.insert(words, owned=True)

    def _reset(self) -> None:
        with self.lock:
            self.main, self.recent = Words(), Words()
            self.high = -1
            self.late = []
            self.seen_above = _no_ids()


class _Bulk:
    """A load's words, gathered into one array sized from a count of the signatures (rows
    committed since the count go to a list): no array copied chunk after chunk."""

    def __init__(self, expected: int) -> None:
        self.buffer = np.empty(expected * BANDS, dtype=np.uint64)
        self.filled = 0
        self.extra: list[U64] = []

    def add(self, words: U64) -> None:
        if self.filled + len(words) <= len(self.buffer):
            self.buffer[self.filled : self.filled + len(words)] = words
            self.filled += len(words)
        else:
            self.extra.append(words)

    def words(self) -> U64:
        """The words, in an array of their own (``Words`` may then cut it without a copy)."""
        if self.extra:
            return np.concatenate([self.buffer[: self.filled], *self.extra])
        self.buffer.resize(self.filled, refcheck=False)
        return self.buffer


_INDEXES: weakref.WeakKeyDictionary[Engine, BandIndex] = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()


def shared_index(engine: Engine) -> BandIndex:
    """This process's index of the database behind ``engine``."""
    with _INDEXES_LOCK:
        found = _INDEXES.get(engine)
        if found is None:
            found = _INDEXES[engine] = BandIndex()
        return found


@dataclass
class Pending:
    """A transaction's own pairs, searched by its later files and chunks, not by anyone else.

    Attached to the session (``of``); published to the shared index by the importer's
    after-commit action, so a rolled-back transaction leaves nothing behind. A file of a
    group commit runs in a savepoint (``FileSavepoint``): rolled back alone, its pairs are
    dropped from here too (``savepoint`` / ``rollback_to``: pairs are only appended).
    """

    ids: list[npt.NDArray[np.int64]] = field(default_factory=list)  # each addition's pairs
    words: Words = field(default_factory=Words)

    KEY: ClassVar[str] = "inboxd.neardup.pending"

    @classmethod
    def of(cls, db_session: Session) -> Pending:
        found = db_session.info.get(cls.KEY)
        if found is None:
            found = db_session.info[cls.KEY] = cls()
            savepoint_aware(db_session).append(found)
        assert isinstance(found, Pending)
        return found

    def add(self, added: Added) -> None:
        self.ids.append(added.ids)
        self.words.insert(packed(added.keys, added.ids), owned=True)

    def candidates(self, keys: U64, found: dict[int, set[int]]) -> None:
        """Into ``found[i]`` this transaction's pairs sharing a key with row i of ``keys``."""
        self.words.lookup((keys & LOW).ravel(), found)

    def savepoint(self) -> int:
        return len(self.ids)

    def rollback_to(self, mark: int) -> None:
        if mark < len(self.ids):
            dropped = np.concatenate(self.ids[mark:])
            del self.ids[mark:]
            self.words.remove(dropped)

    def publish(self, index: BandIndex) -> None:
        """The transaction is committed: its pairs move into ``index`` (not copied). Every
        file of a group commit asks: the first moves them all, the others find none."""
        if self.ids:
            ids = np.concatenate(self.ids)
            self.ids = []
            words, self.words = self.words, Words()
            index.publish(ids, words)
