"""Alembic migrations: the same scripts create and upgrade SQLite and PostgreSQL."""
