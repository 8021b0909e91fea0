"""The gap report: coverage, overlap, answer quality, topics and progress, for a person.

Written to ``var/reports/gap-<stamp>.md`` when a batch closes; ``inboxd report gap`` prints it.
Names (agents, indicators, categories) are agents' data: escaped (``escaping.markdown``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import case, func, select, true
from sqlalchemy.orm import Session

from daemon.config import Settings
from daemon.fsutil import write_atomic
from daemon.status.coverage import gaps, session_coverage
from daemon.status.escaping import markdown
from daemon.store.models import FileRecord, Indicator, NearSignature, QAPairRow


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _names(names: list[str]) -> str:
    return ", ".join(markdown(name) for name in names) or "-"


def gap_report(db_session: Session, settings: Settings, now: datetime) -> str:
    coverage = session_coverage(db_session)
    found = gaps(coverage)
    total = db_session.scalar(select(func.count()).select_from(QAPairRow)) or 0
    lines = [
        f"# Gap report ({now:%Y-%m-%d %H:%M} UTC)",
        "",
        "## Session coverage",
        "",
        "| session | agent | from | expected | delivered (pairs) | missing | planned |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in coverage:
        delivered = ", ".join(f"{markdown(k)} ({v})" for k, v in c.delivered.items()) or "-"
        lines.append(
            f"| {c.number:02d} | {markdown(c.agent)} | {markdown(c.origin)} | "
            f"{len(c.expected)} | {delivered} | {_names(c.missing)} | {_names(c.planned)} |"
        )
    missing = ", ".join(f"{n:02d}" for n in found.missing_sessions) or "none"
    lines += ["", f"Missing sessions: {missing}"]
    for number, names in found.missing_indicators.items():
        lines.append(f"Session {number:02d} missing indicators: {_names(names)}")

    dup_skipped = db_session.scalar(select(func.sum(FileRecord.pairs_duplicate))) or 0
    conflicts = db_session.scalar(select(func.count()).where(QAPairRow.key_conflict == true())) or 0
    from_exports = (
        db_session.scalar(select(func.count()).where(QAPairRow.source_database.is_not(None))) or 0
    )
    lines += [
        "",
        "## Question overlap",
        "",
        f"- pairs stored: {total}",
        f"- duplicate questions skipped on import: {dup_skipped}",
        f"- duplicate rows kept from before adoption: {conflicts}",
        f"- pairs that came from whole-database exports: {from_exports}",
    ]
    lines += near_duplicate_lines(db_session)

    flags = db_session.execute(
        select(
            func.avg(QAPairRow.answer_length),
            func.sum(case((QAPairRow.has_formula.is_(True), 1), else_=0)),
            func.sum(case((QAPairRow.has_examples.is_(True), 1), else_=0)),
            func.sum(case((QAPairRow.has_sources.is_(True), 1), else_=0)),
            func.sum(case((QAPairRow.crypto_specific.is_(True), 1), else_=0)),
            func.avg(QAPairRow.quality_score),
        )
    ).one()
    tiers = db_session.execute(
        select(QAPairRow.tier, func.count())
        .where(QAPairRow.tier.is_not(None))
        .group_by(QAPairRow.tier)
        .order_by(QAPairRow.tier)
    ).all()
    lines += [
        "",
        "## Answer quality",
        "",
        f"- mean answer length: {round(flags[0] or 0)} characters",
        f"- with a formula: {_pct(flags[1] or 0, total)}; with examples: "
        f"{_pct(flags[2] or 0, total)}; with sources: {_pct(flags[3] or 0, total)}; "
        f"crypto-specific: {_pct(flags[4] or 0, total)}",
        f"- mean quality score (refined pairs): {'-' if flags[5] is None else round(flags[5], 3)}",
        f"- tiers: {', '.join(f'{markdown(t)} {n}' for t, n in tiers) or 'none yet'}",
    ]

    by_category = db_session.execute(
        select(Indicator.indicator_category, func.count(QAPairRow.qa_id))
        .join(QAPairRow, QAPairRow.indicator_id == Indicator.id)
        .group_by(Indicator.indicator_category)
        .order_by(func.count(QAPairRow.qa_id).desc())
    ).all()
    lines += [
        "",
        "## Topic distribution by category",
        "",
        "| category | pairs | share |",
        "|---|---|---|",
    ]
    lines += [
        f"| {markdown(cat or 'uncategorised')} | {n} | {_pct(n, total)} |" for cat, n in by_category
    ]

    lines += [
        "",
        "## Progress toward the target",
        "",
        f"- sessions with pairs: {found.sessions_with_pairs}/{found.sessions_known}",
        f"- pairs toward the assigned targets: {found.pairs_toward_target}/"
        f"{found.target_pairs} ({_pct(found.pairs_toward_target, found.target_pairs)})",
    ]
    return "\n".join(lines) + "\n"


def near_duplicate_lines(db_session: Session) -> list[str]:
    """Per indicator: pairs stored, of which unique and near-duplicates (marked); the
    near-duplicates found on import (skipped ones included) and the pairs never searched."""
    by_indicator = db_session.execute(
        select(
            QAPairRow.indicator_name,
            func.count(),
            func.sum(case((QAPairRow.near_duplicate_of.is_not(None), 1), else_=0)),
        )
        .group_by(QAPairRow.indicator_name)
        .order_by(QAPairRow.indicator_name)
    ).all()
    found = db_session.scalar(select(func.sum(FileRecord.pairs_near_duplicate))) or 0
    unsearched = (
        db_session.scalar(
            select(func.count())
            .select_from(QAPairRow)
            .outerjoin(NearSignature, NearSignature.qa_id == QAPairRow.qa_id)
            .where(NearSignature.qa_id.is_(None))
        )
        or 0
    )
    lines = [
        "",
        "## Near-duplicates",
        "",
        f"- found on import (marked or skipped): {found}",
        f"- pairs never searched (`inboxd dedup --rebuild` searches them): {unsearched}",
        "",
        "| indicator | pairs | unique | near-duplicates |",
        "|---|---|---|---|",
    ]
    for name, pairs, near in by_indicator:
        near = near or 0
        lines.append(f"| {markdown(name or '-')} | {pairs} | {pairs - near} | {near} |")
    return lines


def write_gap_report(db_session: Session, settings: Settings, now: datetime) -> Path:
    path = settings.report_dir / f"gap-{now:%Y%m%d-%H%M%S-%f}.md"
    write_atomic(path, gap_report(db_session, settings, now).encode("utf-8"))
    return path
