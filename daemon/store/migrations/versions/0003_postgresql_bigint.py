"""64-bit file sizes and modification times for PostgreSQL.

``files.mtime_ns`` holds nanoseconds since 1970 (about 1.7e18) and ``files.size`` can pass
2 GiB for an oversize file recorded unread: both overflow PostgreSQL's 32-bit INTEGER. SQLite's
INTEGER is already 64-bit, so its table is left alone (no batch rebuild of the ledger).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = (("size", False), ("mtime_ns", True))


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for name, nullable in COLUMNS:
        op.alter_column(
            "files",
            name,
            type_=sa.BigInteger(),
            existing_type=sa.Integer(),
            existing_nullable=nullable,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for name, nullable in COLUMNS:
        op.alter_column(
            "files",
            name,
            type_=sa.Integer(),
            existing_type=sa.BigInteger(),
            existing_nullable=nullable,
        )
