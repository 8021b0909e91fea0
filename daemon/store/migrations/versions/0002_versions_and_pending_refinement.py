"""Answer versions (prefer-longer keeps what it replaces) and pending refinement records.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("qa_id", sa.Integer(), sa.ForeignKey("qa_pairs.qa_id"), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answer_length", sa.Integer(), nullable=False),
        sa.Column("source_database", sa.Text(), nullable=True),
        sa.Column("source_file_id", sa.Integer(), nullable=True),
        sa.Column("replaced_by_file_id", sa.Integer(), sa.ForeignKey("files.id"), nullable=True),
        sa.Column("replaced_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_answer_versions_qa_id", "answer_versions", ["qa_id"])
    op.create_table(
        "refinement_pending",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("question_key", sa.String(64), nullable=True),
        sa.Column("qa_id", sa.Integer(), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("files.id"), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_refinement_pending_question_key", "refinement_pending", ["question_key"])
    op.create_index("ix_refinement_pending_qa_id", "refinement_pending", ["qa_id"])


def downgrade() -> None:
    op.drop_table("refinement_pending")
    op.drop_table("answer_versions")
