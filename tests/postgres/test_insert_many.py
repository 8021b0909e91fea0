"""``db.insert_many`` on PostgreSQL: the rows go through COPY and must be stored exactly as
SQLAlchemy's Core insert stores them; a violated constraint is SQLAlchemy's error, as from
Core (the pipeline tells another daemon's question by it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError

from daemon.store import migrate
from daemon.store.engine import Database, insert_many
from daemon.store.locks import is_question_key_conflict
from daemon.store.models import Indicator
from tests.daemon.test_insert_many import QA_PAIRS, _rows, _table


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url)
    migrate.upgrade(db)
    with db.engine.begin() as connection:
        connection.execute(_table(Indicator).insert(), [{"id": 1, "indicator_name": "RSI"}])
    yield db
    db.dispose()


def _pg_rows() -> list[dict[str, Any]]:
    """The SQLite test's rows, with a pair number PostgreSQL's INTEGER holds."""
    rows = _rows()
    rows[2]["pair_number"] = 3
    return rows


def _stored(db: Database) -> list[tuple[Any, ...]]:
    columns = [c for c in QA_PAIRS.c if c.key != "qa_id"]
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(*columns).order_by("pair_number"))]


def test_rows_copied_are_stored_exactly_as_the_core_insert_stores_them(pg: Database) -> None:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(pg.engine, "before_cursor_execute", seen)
    with pg.engine.begin() as connection:
        insert_many(connection, QA_PAIRS, _pg_rows())
    event.remove(pg.engine, "before_cursor_execute", seen)
    assert not any(s.lstrip().upper().startswith("INSERT") for s in statements), "not COPY"
    copied = _stored(pg)
    with pg.engine.begin() as connection:
        connection.execute(text("DELETE FROM qa_pairs"))
        connection.execute(QA_PAIRS.insert(), _pg_rows())
    assert len(copied) == 3
    assert copied == _stored(pg)


def test_a_question_stored_twice_raises_the_key_conflict_sqlalchemy_would(pg: Database) -> None:
    rows = _pg_rows()[:1]
    with pg.engine.begin() as connection:
        insert_many(connection, QA_PAIRS, rows)
    with pytest.raises(IntegrityError) as raised, pg.engine.begin() as connection:
        insert_many(connection, QA_PAIRS, [{**rows[0], "pair_number": 9}])
    assert is_question_key_conflict(raised.value)
    assert len(_stored(pg)) == 1
