"""Indexes for the lookups done per file and per status write.

The next pair number is ``max(pair_number)`` of one indicator (composite index: one probe
instead of a scan); status views count an agent's pairs and sessions.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_qa_pairs_indicator_pair_number", "qa_pairs", ["indicator_id", "pair_number"]
    )
    op.create_index("ix_qa_pairs_agent_session", "qa_pairs", ["agent", "session_number"])
    op.create_index(
        "ix_qa_pairs_session_indicator", "qa_pairs", ["session_number", "indicator_name"]
    )


def downgrade() -> None:
    op.drop_index("ix_qa_pairs_session_indicator", table_name="qa_pairs")
    op.drop_index("ix_qa_pairs_agent_session", table_name="qa_pairs")
    op.drop_index("ix_qa_pairs_indicator_pair_number", table_name="qa_pairs")
