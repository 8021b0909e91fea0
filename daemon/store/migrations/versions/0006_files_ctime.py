"""The ledger records each file's ctime as last read (``files.ctime_ns``).

A rescan skips a file without reading it when its size, mtime and ctime are the ones recorded.
mtime can be set back (``touch -d``, ``cp -p``, ``rsync -t``), ctime cannot: an equal ctime
means nothing wrote the file since. Rows from before this revision have none (NULL) and are
judged as before, by their ctime against the time they were read.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nanoseconds since 1970: BIGINT on PostgreSQL (as mtime_ns, 0003), INTEGER on SQLite
    op.add_column(
        "files",
        sa.Column("ctime_ns", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("files", "ctime_ns")
