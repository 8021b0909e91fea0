"""What was asked for against what is stored: the one place that computes gaps.

Sessions from an assignment file are a contract: each listed indicator not yet delivered is
*missing*. Sessions known only from SESSION_INDEX.md are a plan: their undelivered indicators
are listed as *planned*, and the session itself counts as missing only when nothing of it is
stored. Status files, the completion signal and the gap report all read this.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, select

from daemon.store.engine import Reader
from daemon.store.models import QAPairRow, SessionIndicator, SessionPlan


@dataclass
class SessionCoverage:
    number: int
    agent: str
    title: str | None
    origin: str
    target_per_indicator: int
    expected: list[str]
    delivered: dict[str, int] = field(default_factory=dict)  # indicator -> pairs stored
    missing: list[str] = field(default_factory=list)  # assigned and not delivered
    planned: list[str] = field(default_factory=list)  # index-only and not delivered

    @property
    def pairs(self) -> int:
        return sum(self.delivered.values())

    @property
    def session_missing(self) -> bool:
        return self.pairs == 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pairs"] = self.pairs
        data["session_missing"] = self.session_missing
        return data


def pairs_by_session(reader: Reader) -> dict[int, dict[str, int]]:
    """session number -> {indicator name -> pairs stored}."""
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for number, name, count in reader.execute(
        select(QAPairRow.session_number, QAPairRow.indicator_name, func.count())
        .where(QAPairRow.session_number.is_not(None))
        .group_by(QAPairRow.session_number, QAPairRow.indicator_name)
    ).all():
        if number is not None:  # (the WHERE already leaves them out)
            found[number][name or ""] = count
    return found


# Built once (status writes read coverage after every file): plain rows, not ORM objects.
ALL_PLANS = select(
    SessionPlan.session_number,
    SessionPlan.agent,
    SessionPlan.title,
    SessionPlan.origin,
    SessionPlan.target_per_indicator,
).order_by(SessionPlan.session_number)
AGENT_PLANS = ALL_PLANS.where(SessionPlan.agent == bindparam("agent"))
ALL_EXPECTED = select(SessionIndicator.session_number, SessionIndicator.indicator_name).order_by(
    SessionIndicator.session_number, SessionIndicator.position
)
AGENT_EXPECTED = ALL_EXPECTED.where(
    SessionIndicator.session_number.in_(
        select(SessionPlan.session_number).where(SessionPlan.agent == bindparam("agent"))
    )
)


def session_coverage(
    reader: Reader,
    agent: str | None = None,
    stored: Mapping[int, Mapping[str, int]] | None = None,
) -> list[SessionCoverage]:
    """Coverage of every known session (of one agent, when given), by session number.

    ``stored`` is ``pairs_by_session`` when the caller already has it (the status writer
    keeps it up to date without a whole-table GROUP BY per write); read here otherwise. A
    Connection reads without the ORM's per-statement work (and without its autoflush).
    """
    if agent is None:
        plans = reader.execute(ALL_PLANS).all()
        indicators = reader.execute(ALL_EXPECTED).all()
    else:
        plans = reader.execute(AGENT_PLANS, {"agent": agent}).all()
        indicators = reader.execute(AGENT_EXPECTED, {"agent": agent}).all()
    expected: dict[int, list[str]] = defaultdict(list)
    for number, name in indicators:
        expected[number].append(name)
    if stored is None:
        stored = pairs_by_session(reader)
    result = []
    for plan in plans:
        delivered = stored.get(plan.session_number, {})
        have = {name.casefold() for name in delivered}
        not_delivered = [n for n in expected[plan.session_number] if n.casefold() not in have]
        coverage = SessionCoverage(
            number=plan.session_number,
            agent=plan.agent,
            title=plan.title,
            origin=plan.origin,
            target_per_indicator=plan.target_per_indicator,
            expected=expected[plan.session_number],
            delivered=dict(sorted(delivered.items())),
        )
        if plan.origin == "assignment":
            coverage.missing = not_delivered
        else:
            coverage.planned = not_delivered
        result.append(coverage)
    return result


@dataclass
class Gaps:
    """The summary a person asks for: which sessions and indicators are still owed."""

    missing_sessions: list[int]
    missing_indicators: dict[int, list[str]]
    planned_not_delivered: dict[int, list[str]]
    sessions_known: int
    sessions_with_pairs: int
    target_pairs: int
    pairs_toward_target: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def gaps(coverage: list[SessionCoverage]) -> Gaps:
    target = 0
    toward = 0
    missing_sessions: list[int] = []
    missing_indicators: dict[int, list[str]] = {}
    planned: dict[int, list[str]] = {}
    for c in coverage:  # one pass: this runs at every status write
        target += c.target_per_indicator * len(c.expected)
        wanted = {n.casefold() for n in c.expected}
        toward += sum(
            min(count, c.target_per_indicator)
            for name, count in c.delivered.items()
            if name.casefold() in wanted
        )
        if c.session_missing:
            missing_sessions.append(c.number)
            continue
        if c.missing:
            missing_indicators[c.number] = c.missing
        if c.planned:
            planned[c.number] = c.planned
    return Gaps(
        missing_sessions=missing_sessions,
        missing_indicators=missing_indicators,
        planned_not_delivered=planned,
        sessions_known=len(coverage),
        sessions_with_pairs=len(coverage) - len(missing_sessions),
        target_pairs=target,
        pairs_toward_target=toward,
    )
