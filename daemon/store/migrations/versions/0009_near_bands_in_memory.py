"""Near-duplicates: the LSH index's bands (``near_bands``) are no longer stored.

Each process holds the index in memory, banded from ``near_signatures`` (the MinHash and the
anchors' digest of every indexed pair, kept): a pair's 16 band rows cost an import more than
the rest of it (docs/near-duplicates.md). Nothing is lost: the band keys are recomputed from
the signatures. A downgrade creates the table again, empty: the code of 0007 would need
``inboxd dedup --rebuild``-like banding to find stored pairs again.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INT64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.drop_table("near_bands")


def downgrade() -> None:
    op.create_table(
        "near_bands",
        sa.Column("band_key", INT64, autoincrement=False, nullable=False),
        sa.Column("qa_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("band_key", "qa_id"),
        sqlite_with_rowid=False,
    )
