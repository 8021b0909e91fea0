"""Drop ``ix_qa_pairs_indicator_id``: ``ix_qa_pairs_indicator_pair_number`` (indicator_id,
pair_number, 0004) serves every lookup by indicator as its leading column, foreign key checks
included, and each index is work on every insert (the bench export's inserts: 0.346 s to
0.331 s of CPU, docs/performance.md).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_qa_pairs_indicator_id", table_name="qa_pairs")


def downgrade() -> None:
    op.create_index("ix_qa_pairs_indicator_id", "qa_pairs", ["indicator_id"])
