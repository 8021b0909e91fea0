"""Indicator rows: found by name (case-insensitively) or created with a category."""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.store.engine import read_cache
from daemon.store.models import Indicator, QAPairRow, SessionIndicator, SessionPlan


def category_by_rules(name: str, settings: Settings) -> str:
    """The first category with a keyword in the name (as a whole word), else the fallback."""
    lowered = name.casefold()
    for category, keywords in settings.category_rules.items():
        if any(re.search(rf"\b{re.escape(k.casefold())}\b", lowered) for k in keywords):
            return category
    return settings.fallback_category


# Built once (read for every file): building a statement costs more than running it.
ALL_INDICATORS = select(
    Indicator.id, Indicator.indicator_name, Indicator.indicator_category
).order_by(Indicator.id.desc())
PLANNED_INDICATORS = (
    select(SessionIndicator.indicator_name, SessionPlan.session_number, SessionPlan.category)
    .join(SessionPlan)
    .order_by(SessionPlan.session_number)
)
SESSION_CATEGORIES = select(SessionPlan.session_number, SessionPlan.category)
INSERT_INDICATOR = insert(cast(Table, Indicator.__table__))  # ``__table__`` is typed loosely
LAST_PAIR_NUMBER = select(func.max(QAPairRow.pair_number)).where(
    QAPairRow.indicator_id == bindparam("indicator_id")
)


class KnownIndicator(NamedTuple):
    """What importing needs of an indicator row (read as plain rows: no ORM objects)."""

    id: int
    indicator_name: str
    indicator_category: str | None


class IndicatorBook:
    """Indicators, plans and next pair numbers, loaded at most once per transaction.

    One book serves every file of a group commit (``for_file``): each file would otherwise
    read every indicator again. It stays true within the transaction because the files that
    use it hold their indicators' locks until commit (``serialize_on``; SQLite's one writer),
    a file's savepoint rollback drops it (``read_cache``), and so does an assignment, which
    changes the plans it holds. An indicator another host created since the book read them
    is found by reading them again on a miss, before creating it.
    """

    CACHE_KEY = "indicator_book"

    def __init__(self, db_session: Session, settings: Settings, now: datetime) -> None:
        self._db_session = db_session
        self._settings = settings
        self._now = now
        self._next_number: dict[int, int] = {}
        self._indicators: dict[str, KnownIndicator] | None = None
        self._read_this_file = False  # the indicators were read for the current file
        self._plans_loaded = False
        self._planned_session: dict[str, int] = {}
        self._planned_spelling: dict[str, str] = {}
        self._session_category: dict[int, str | None] = {}

    @classmethod
    def for_file(cls, db_session: Session, settings: Settings, now: datetime) -> IndicatorBook:
        """The transaction's book (a new one for its first file), ready for one more file."""
        cache = read_cache(db_session)
        book = cache.get(cls.CACHE_KEY)
        if not isinstance(book, IndicatorBook):
            book = cache[cls.CACHE_KEY] = cls(db_session, settings, now)
        book._now = now
        book._read_this_file = False
        return book

    @property
    def _by_name(self) -> dict[str, KnownIndicator]:
        if self._indicators is None:
            self._indicators = self._read_indicators()
        return self._indicators

    def _read_indicators(self) -> dict[str, KnownIndicator]:
        self._read_this_file = True
        rows = self._db_session.connection().execute(ALL_INDICATORS)
        return {
            name.casefold(): KnownIndicator(id_, name, category) for id_, name, category in rows
        }

    def _find(self, key: str) -> KnownIndicator | None:
        """The indicator of that (case-folded) name, read again once if read for a file before."""
        known = self._by_name.get(key)
        if known is None and not self._read_this_file:
            self._indicators = self._read_indicators()
            known = self._indicators.get(key)
        return known

    def _load_plans(self) -> None:
        if self._plans_loaded:
            return
        self._plans_loaded = True
        connection = self._db_session.connection()
        for name, number, category in connection.execute(PLANNED_INDICATORS).all():
            self._planned_session.setdefault(name.casefold(), number)
            self._planned_spelling.setdefault(name.casefold(), name)
            self._session_category[number] = category
        for number, category in connection.execute(SESSION_CATEGORIES).all():
            self._session_category[number] = category

    def planned_session(self, indicator: str) -> int | None:
        """The assigned session that lists this indicator, if any."""
        self._load_plans()
        return self._planned_session.get(indicator.casefold())

    def category_for(self, indicator: str, session_number: int | None) -> str:
        self._load_plans()
        existing = self._by_name.get(indicator.casefold())
        if existing is not None and existing.indicator_category:
            return existing.indicator_category
        if session_number is not None and self._session_category.get(session_number):
            return str(self._session_category[session_number])
        return category_by_rules(indicator, self._settings)

    def resolve(
        self, name: str, category: str | None, session_number: int | None
    ) -> KnownIndicator:
        """The indicator row of that name, created (with a category) when new."""
        key = name.casefold()
        known = self._find(key)
        if known is None:
            self._load_plans()
            name = self._planned_spelling.get(key, name)  # "STOCHASTIC" -> "Stochastic"
            category = category or self.category_for(name, session_number)
            # Core, not an ORM object and a flush per indicator
            created = self._db_session.connection().execute(
                INSERT_INDICATOR,
                {
                    "indicator_name": name,
                    "indicator_category": category,
                    "session_number": session_number,
                    "description": f"{name} - Session {session_number}" if session_number else name,
                    "created_at": self._now,
                    "updated_at": self._now,
                },
            )
            new_key = created.inserted_primary_key
            assert new_key is not None  # an INSERT of one row always has one
            known = KnownIndicator(new_key[0], name, category)
            self._by_name[key] = known
            self._next_number[known.id] = 1  # uncommitted: no pair of it anywhere yet
        return known

    def next_pair_number(self, indicator_id: int) -> int:
        """Numbers run per indicator without a query per pair."""
        if indicator_id not in self._next_number:
            current = self._db_session.connection().scalar(
                LAST_PAIR_NUMBER, {"indicator_id": indicator_id}
            )
            self._next_number[indicator_id] = (current or 0) + 1
        number = self._next_number[indicator_id]
        self._next_number[indicator_id] = number + 1
        return number
