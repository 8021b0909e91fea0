"""Near-duplicates (issue 18): ``qa_pairs.near_duplicate_of`` / ``near_similarity``, the
pairs' MinHash signatures (``near_signatures``), the LSH index's bands (``near_bands``) and
each file's count (``files.pairs_near_duplicate``).

Pairs stored before this revision have no signature; ``inboxd dedup --rebuild`` computes
them and marks the near-duplicates among them.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INT64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "files",
        sa.Column(
            "pairs_near_duplicate", sa.Integer(), nullable=False, server_default=sa.text("0")
        ),
    )
    op.add_column("qa_pairs", sa.Column("near_duplicate_of", sa.Integer(), nullable=True))
    op.add_column("qa_pairs", sa.Column("near_similarity", sa.Float(), nullable=True))
    op.create_index(
        "ix_qa_pairs_near_duplicate_of",
        "qa_pairs",
        ["near_duplicate_of"],
        sqlite_where=sa.text("near_duplicate_of IS NOT NULL"),
        postgresql_where=sa.text("near_duplicate_of IS NOT NULL"),
    )
    op.create_table(
        "near_signatures",
        sa.Column("qa_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("anchors", INT64, nullable=False),
        sa.Column("minhash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("qa_id"),
    )
    op.create_table(
        "near_bands",
        sa.Column("band_key", INT64, autoincrement=False, nullable=False),
        sa.Column("qa_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("band_key", "qa_id"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("near_bands")
    op.drop_table("near_signatures")
    op.drop_index("ix_qa_pairs_near_duplicate_of", table_name="qa_pairs")
    op.drop_column("qa_pairs", "near_similarity")
    op.drop_column("qa_pairs", "near_duplicate_of")
    op.drop_column("files", "pairs_near_duplicate")
