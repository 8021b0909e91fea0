"""The core: legacy tables (created, or adopted as they are) and inboxd's additions.

An adopted production database already has ``crypto_indicators`` and ``qa_pairs``: they are
left untouched but for new nullable columns. Nothing is dropped or rewritten.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LEGACY_INDICATOR_COLUMNS: list[tuple[str, sa.types.TypeEngine[Any], bool]] = [
    ("indicator_name", sa.Text(), False),
    ("indicator_category", sa.Text(), True),
    ("session_number", sa.Integer(), True),
    ("description", sa.Text(), True),
    ("created_at", sa.DateTime(), True),
    ("updated_at", sa.DateTime(), True),
]
LEGACY_QA_COLUMNS: list[tuple[str, sa.types.TypeEngine[Any], bool]] = [
    ("indicator_name", sa.Text(), True),
    ("pair_number", sa.Integer(), True),
    ("question", sa.Text(), False),
    ("answer", sa.Text(), False),
    ("difficulty_level", sa.Text(), True),
    ("answer_length", sa.Integer(), True),
    ("has_formula", sa.Boolean(), True),
    ("has_examples", sa.Boolean(), True),
    ("has_sources", sa.Boolean(), True),
    ("crypto_specific", sa.Boolean(), True),
    ("created_date", sa.Text(), True),
]


def _qa_additions() -> list[sa.Column[object]]:
    return [
        sa.Column("question_key", sa.String(64), nullable=True),
        sa.Column("key_conflict", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("session_number", sa.Integer(), nullable=True),
        sa.Column("agent", sa.Text(), nullable=True),
        sa.Column("source_file_id", sa.Integer(), nullable=True),
        sa.Column("source_database", sa.Text(), nullable=True),
        sa.Column("source_ref", sa.Text(), nullable=True),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("tier", sa.Text(), nullable=True),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("refinement_notes", sa.Text(), nullable=True),
        sa.Column("refined_at", sa.DateTime(), nullable=True),
        sa.Column("handed_at", sa.DateTime(), nullable=True),
        sa.Column("handed_file", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())

    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("box", sa.String(8), nullable=False),
        sa.Column("rel_path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("mtime_ns", sa.Integer(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("pairs_delivered", sa.Integer(), nullable=False),
        sa.Column("pairs_stored", sa.Integer(), nullable=False),
        sa.Column("pairs_duplicate", sa.Integer(), nullable=False),
        sa.Column("pairs_skipped", sa.Integer(), nullable=False),
        sa.Column("pairs_filtered", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("archive_path", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(), nullable=False),
        sa.Column("seen_count", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("ms", sa.Float(), nullable=True),
        sa.UniqueConstraint("rel_path", "sha256", name="uq_files_path_content"),
    )
    op.create_index("ix_files_agent_outcome", "files", ["agent", "outcome"])

    if "crypto_indicators" not in existing:
        op.create_table(
            "crypto_indicators",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            *(sa.Column(n, t, nullable=nullable) for n, t, nullable in LEGACY_INDICATOR_COLUMNS),
        )
    if "qa_pairs" not in existing:
        op.create_table(
            "qa_pairs",
            sa.Column("qa_id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column(
                "indicator_id", sa.Integer(), sa.ForeignKey("crypto_indicators.id"), nullable=True
            ),
            *(sa.Column(n, t, nullable=nullable) for n, t, nullable in LEGACY_QA_COLUMNS),
            *_qa_additions(),
            sa.ForeignKeyConstraint(["source_file_id"], ["files.id"]),
        )
    else:
        # Adopted in place: only new nullable/defaulted columns are added.
        with op.batch_alter_table("qa_pairs", recreate="never") as batch:
            for column in _qa_additions():
                batch.add_column(column)
    op.create_index(
        "uq_qa_pairs_question_key",
        "qa_pairs",
        ["question_key"],
        unique=True,
        sqlite_where=sa.text("key_conflict = 0"),
        postgresql_where=sa.text("NOT key_conflict"),
    )
    op.create_index("ix_qa_pairs_indicator_id", "qa_pairs", ["indicator_id"])
    op.create_index("ix_qa_pairs_source_file_id", "qa_pairs", ["source_file_id"])

    op.create_table(
        "sessions",
        sa.Column("session_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("target_per_indicator", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("files.id"), nullable=True),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "session_indicators",
        sa.Column(
            "session_number",
            sa.Integer(),
            sa.ForeignKey("sessions.session_number", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("indicator_name", sa.Text(), nullable=False),
    )
    op.create_table(
        "progress_claims",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("files.id"), nullable=True),
        sa.Column("sessions_complete", sa.Integer(), nullable=True),
        sa.Column("sessions_total", sa.Integer(), nullable=True),
        sa.Column("current_session", sa.Integer(), nullable=True),
        sa.Column("last_updated", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("files.id"), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=True),
        sa.Column("findings", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    for table in ("signals", "progress_claims", "session_indicators", "sessions"):
        op.drop_table(table)
    for index in (
        "ix_qa_pairs_source_file_id",
        "ix_qa_pairs_indicator_id",
        "uq_qa_pairs_question_key",
    ):
        op.drop_index(index, table_name="qa_pairs")
    with op.batch_alter_table("qa_pairs") as batch:
        for column in _qa_additions():
            batch.drop_column(column.name)
    op.drop_table("files")
