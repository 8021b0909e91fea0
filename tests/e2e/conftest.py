"""The end-to-end suite runs once per database engine: SQLite (a file) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import Settings


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(root: Path, engine: str, request: pytest.FixtureRequest) -> Settings:
    """The root's settings on this engine; PostgreSQL gets a fresh database (or a skip)."""
    url = request.getfixturevalue("postgres_url") if engine == "postgresql" else None
    return Settings(root=root, settle_seconds=0.2, rescan_seconds=3600, database_url=url)
