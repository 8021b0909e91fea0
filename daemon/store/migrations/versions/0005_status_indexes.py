"""Indexes for the status view, so that writing an agent's status stays cheap.

An agent's last files (``WHERE agent = ? ORDER BY id DESC LIMIT n``) are read from an
(agent, id) index instead of sorting all its files. The orchestrator's quality tiers, its
count of duplicate rows found at adoption and the refiner's queue (handed / returned) are
counted over small partial indexes (only the rows they count), not over the whole table.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_files_agent_id", "files", ["agent", "id"])
    op.create_index(
        "ix_qa_pairs_tier",
        "qa_pairs",
        ["tier"],
        sqlite_where=sa.text("tier IS NOT NULL"),
        postgresql_where=sa.text("tier IS NOT NULL"),
    )
    op.create_index(
        "ix_qa_pairs_key_conflict",
        "qa_pairs",
        ["key_conflict"],
        sqlite_where=sa.text("key_conflict = 1"),
        postgresql_where=sa.text("key_conflict"),
    )
    op.create_index(
        "ix_qa_pairs_handed_refined",
        "qa_pairs",
        ["refined_at"],
        sqlite_where=sa.text("handed_at IS NOT NULL"),
        postgresql_where=sa.text("handed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_qa_pairs_handed_refined", table_name="qa_pairs")
    op.drop_index("ix_qa_pairs_key_conflict", table_name="qa_pairs")
    op.drop_index("ix_qa_pairs_tier", table_name="qa_pairs")
    op.drop_index("ix_files_agent_id", table_name="files")
