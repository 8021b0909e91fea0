"""The tables (SQLAlchemy 2, typed).

``crypto_indicators`` and ``qa_pairs`` keep the names and columns of the users' production
database so it can be adopted in place; inboxd only adds columns and tables. Importers are the
only code that writes these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

QUESTION_KEY_INDEX = "uq_qa_pairs_question_key"  # named: locks.py tells its conflicts apart
# BIGINT where 32 bits are too few; SQLite's INTEGER is 64-bit already (and stays as created)
INT64 = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Naive UTC: what both SQLite and PostgreSQL give back unchanged."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Indicator(Base):
    """Legacy ``crypto_indicators``: one row per indicator, whatever sessions it spans."""

    __tablename__ = "crypto_indicators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    indicator_name: Mapped[str] = mapped_column(Text, nullable=False)
    indicator_category: Mapped[str | None] = mapped_column(Text)
    session_number: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class QAPairRow(Base):
    """Legacy ``qa_pairs`` plus inboxd's columns (question key, provenance, refinement)."""

    __tablename__ = "qa_pairs"

    qa_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("crypto_indicators.id"))
    indicator_name: Mapped[str | None] = mapped_column(Text)
    pair_number: Mapped[int | None] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text, nullable=False)
    answer: Mapped[str] = mapped_column(Text, nullable=False)
    difficulty_level: Mapped[str | None] = mapped_column(Text)
    answer_length: Mapped[int | None] = mapped_column(Integer)
    has_formula: Mapped[bool | None] = mapped_column(Boolean)
    has_examples: Mapped[bool | None] = mapped_column(Boolean)
    has_sources: Mapped[bool | None] = mapped_column(Boolean)
    crypto_specific: Mapped[bool | None] = mapped_column(Boolean)
    created_date: Mapped[str | None] = mapped_column(Text)
    # inboxd's own columns
    question_key: Mapped[str | None] = mapped_column(String(64))
    key_conflict: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    session_number: Mapped[int | None] = mapped_column(Integer)
    agent: Mapped[str | None] = mapped_column(Text)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    source_database: Mapped[str | None] = mapped_column(Text)
    source_ref: Mapped[str | None] = mapped_column(Text)
    quality_score: Mapped[float | None] = mapped_column(Float)
    tier: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    refinement_notes: Mapped[str | None] = mapped_column(Text)
    refined_at: Mapped[datetime | None] = mapped_column(DateTime)
    handed_at: Mapped[datetime | None] = mapped_column(DateTime)
    handed_file: Mapped[str | None] = mapped_column(Text)
    # the stored pair this one resembles, and how much (Jaccard of their words; 0007)
    near_duplicate_of: Mapped[int | None] = mapped_column(Integer)
    near_similarity: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        # One key, one pair; rows that were duplicates before adoption are marked and exempt.
        Index(
            QUESTION_KEY_INDEX,
            "question_key",
            unique=True,
            sqlite_where=text("key_conflict = 0"),
            postgresql_where=text("NOT key_conflict"),
        ),
        Index("ix_qa_pairs_source_file_id", "source_file_id"),
        # also every lookup by indicator alone (its own index was dropped: 0008)
        Index("ix_qa_pairs_indicator_pair_number", "indicator_id", "pair_number"),
        Index("ix_qa_pairs_agent_session", "agent", "session_number"),
        Index("ix_qa_pairs_session_indicator", "session_number", "indicator_name"),
        # partial: the status view counts only these rows (0005)
        Index(
            "ix_qa_pairs_tier",
            "tier",
            sqlite_where=text("tier IS NOT NULL"),
            postgresql_where=text("tier IS NOT NULL"),
        ),
        Index(
            "ix_qa_pairs_key_conflict",
            "key_conflict",
            sqlite_where=text("key_conflict = 1"),
            postgresql_where=text("key_conflict"),
        ),
        Index(
            "ix_qa_pairs_handed_refined",
            "refined_at",
            sqlite_where=text("handed_at IS NOT NULL"),
            postgresql_where=text("handed_at IS NOT NULL"),
        ),
        # partial: statuses, the gap report and snapshots look up the marked pairs only (0007)
        Index(
            "ix_qa_pairs_near_duplicate_of",
            "near_duplicate_of",
            sqlite_where=text("near_duplicate_of IS NOT NULL"),
            postgresql_where=text("near_duplicate_of IS NOT NULL"),
        ),
    )


class NearSignature(Base):
    """A stored pair's MinHash (``daemon/neardup``): the pair is in the near-duplicate index.

    Each process bands these into its index in memory (``daemon/neardup/index.py``) without
    reading the text; its presence is what ``inboxd dedup --rebuild`` resumes by (0007; the
    bands themselves were stored too until 0009).
    """

    __tablename__ = "near_signatures"

    qa_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    anchors: Mapped[int] = mapped_column(INT64, nullable=False)  # the anchor set's digest
    minhash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # uint32 each, LE


class FileRecord(Base):
    """The ledger: one row per (path, content) ever handled, with its outcome."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(Text, nullable=False)
    box: Mapped[str] = mapped_column(String(8), nullable=False)
    rel_path: Mapped[str] = mapped_column(Text, nullable=False)  # relative to the root
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # 64-bit: nanosecond times and sizes over 2 GiB overflow PostgreSQL's INTEGER (0003)
    size: Mapped[int] = mapped_column(INT64, nullable=False)
    mtime_ns: Mapped[int | None] = mapped_column(INT64)
    # ctime when last read: it cannot be set back, so an equal one means unwritten since (0006)
    ctime_ns: Mapped[int | None] = mapped_column(INT64)
    kind: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    pairs_delivered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pairs_stored: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pairs_duplicate: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pairs_skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pairs_filtered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # near-duplicates found (marked, or skipped and counted in pairs_duplicate too; 0007)
    pairs_near_duplicate: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    archive_path: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    seen_count: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    ms: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        UniqueConstraint("rel_path", "sha256", name="uq_files_path_content"),
        Index("ix_files_agent_outcome", "agent", "outcome"),
        Index("ix_files_agent_id", "agent", "id"),  # an agent's last files (0005)
    )


class SessionPlan(Base):
    """A session known to inboxd: from an assignment file or a row of SESSION_INDEX.md."""

    __tablename__ = "sessions"

    session_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agent: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    target_per_indicator: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)  # assignment | index
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class SessionIndicator(Base):
    """The indicators a session is expected to deliver, in the order given."""

    __tablename__ = "session_indicators"

    session_number: Mapped[int] = mapped_column(
        ForeignKey("sessions.session_number", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    indicator_name: Mapped[str] = mapped_column(Text, nullable=False)


class ProgressClaimRow(Base):
    """An agent's own ``status.txt`` claim, kept to show beside the database's numbers."""

    __tablename__ = "progress_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(Text, nullable=False)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    sessions_complete: Mapped[int | None] = mapped_column(Integer)
    sessions_total: Mapped[int | None] = mapped_column(Integer)
    current_session: Mapped[int | None] = mapped_column(Integer)
    last_updated: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class SignalRow(Base):
    """A completion signal and what closing its batch found."""

    __tablename__ = "signals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent: Mapped[str] = mapped_column(Text, nullable=False)
    batch_no: Mapped[int] = mapped_column(Integer, nullable=False)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # closed | already-closed
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    findings: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AnswerVersion(Base):
    """An answer replaced under the prefer-longer policy: nothing overwritten without a trace."""

    __tablename__ = "answer_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    qa_id: Mapped[int] = mapped_column(ForeignKey("qa_pairs.qa_id"), nullable=False, index=True)
    answer: Mapped[str] = mapped_column(Text, nullable=False)
    answer_length: Mapped[int] = mapped_column(Integer, nullable=False)
    source_database: Mapped[str | None] = mapped_column(Text)
    source_file_id: Mapped[int | None] = mapped_column(Integer)
    replaced_by_file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    replaced_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class PendingRefinement(Base):
    """A refinement record whose pair is not stored yet: applied when that pair arrives."""

    __tablename__ = "refinement_pending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question_key: Mapped[str | None] = mapped_column(String(64), index=True)
    qa_id: Mapped[int | None] = mapped_column(Integer, index=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
