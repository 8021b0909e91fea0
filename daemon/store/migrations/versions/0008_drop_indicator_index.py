"""Drop ``ix_qa_pairs_indicator_id``: ``ix_qa_pairs_indicator_pair_number`` (indicator_id,
pair_number, 0004) serves every lookup by indicator as its leading column, foreign key checks
included, and each index is work on every insert (a big export's inserts: ~4% less time
without it, docs/performance.md).

Revision ID: 0008_drop_indicator_index
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008_drop_indicator_index"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_qa_pairs_indicator_id", table_name="qa_pairs")


def downgrade() -> None:
    op.create_index("ix_qa_pairs_indicator_id", "qa_pairs", ["indicator_id"])
