"""What a snapshot takes from the database, and which split each pair falls in.

The filters are kept in the manifest as given, so a snapshot says how it was cut. The split
is a function of the question key alone (a hash, cut at the cumulative fractions), so a pair
never changes split from one snapshot to the next while the split is the same, and pairs
with the same question never straddle train and test.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from daemon.errors import UsageError

TIERS = ("premium", "standard", "low")  # best first: "below standard" is "low"
_SPLIT_TOLERANCE = 1e-6


class Filters(BaseModel):
    """Every filter a snapshot can be cut with; an empty list or None takes everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tiers: tuple[str, ...] = ()
    min_score: float | None = None
    agents: tuple[str, ...] = ()
    indicators: tuple[str, ...] = ()  # compared case-insensitively
    categories: tuple[str, ...] = ()  # compared case-insensitively
    sessions: tuple[int, int] | None = None  # first and last, both included
    since: datetime | None = None  # imported at or after
    exclude_duplicates: bool = False  # pairs the refiner marked ``duplicate_of``
    exclude_near_duplicates: bool = False  # pairs marked ``near_duplicate_of`` on import

    def described(self) -> dict[str, Any]:
        """The filters that were set, as the manifest and the card show them."""
        return self.model_dump(mode="json", exclude_defaults=True)


class Split(BaseModel):
    """Named parts with fractions that add up to 1, in the order given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parts: tuple[tuple[str, float], ...] = Field(min_length=1)

    def described(self) -> dict[str, float]:
        return dict(self.parts)

    @classmethod
    def of_described(cls, described: dict[str, float] | None) -> Split | None:
        """The split a manifest recorded (``described``), or None when it had none."""
        return cls(parts=tuple(described.items())) if described else None

    def names(self) -> list[str]:
        return [name for name, _ in self.parts]

    def of(self, question_key: str | None, fallback: str) -> str:
        """The part a question key falls in: the same key, the same part, every time."""
        digest = hashlib.blake2b((question_key or fallback).encode(), digest_size=8).digest()
        point = int.from_bytes(digest, "big") / 2**64
        edge = 0.0
        for name, fraction in self.parts:
            edge += fraction
            if point < edge:
                return name
        return self.parts[-1][0]  # rounding: the last part takes the remainder


def parse_split(text: str) -> Split:
    """``train=0.9,validation=0.05,test=0.05`` (fractions, or percentages adding up to 100)."""
    parts: list[tuple[str, float]] = []
    for item in (part.strip() for part in text.split(",")):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not name.isidentifier():
            raise UsageError(
                f"--split {text!r}: {item!r} is not name=fraction; "
                "give e.g. train=0.9,validation=0.05,test=0.05"
            )
        try:
            fraction = float(value)
        except ValueError:
            raise UsageError(f"--split {text!r}: {value.strip()!r} is not a number") from None
        if fraction <= 0:
            raise UsageError(f"--split {text!r}: {name}'s fraction must be above 0")
        if name in dict(parts):
            raise UsageError(f"--split {text!r}: {name} is named twice")
        parts.append((name, fraction))
    total = sum(f for _, f in parts)
    if abs(total - 100) < _SPLIT_TOLERANCE and total > 1:
        parts = [(name, f / 100) for name, f in parts]
    elif abs(total - 1) > _SPLIT_TOLERANCE:
        raise UsageError(f"--split {text!r}: the fractions add up to {total:g}; they must make 1")
    return Split(parts=tuple(parts))


def parse_sessions(text: str) -> tuple[int, int]:
    """``1-20``, ``7`` or ``7-7``: the first and last session, both included."""
    first, sep, last = text.partition("-")
    try:
        low = int(first.strip())
        high = int(last.strip()) if sep else low
    except ValueError:
        raise UsageError(f"--sessions {text!r}: give a session or a range such as 1-20") from None
    if low > high:
        raise UsageError(f"--sessions {text!r}: the range runs backwards; give {high}-{low}")
    return low, high


def parse_since(text: str) -> datetime:
    """``2025-11-03`` or ``2025-11-03T14:20``: pairs imported at or after it (UTC)."""
    try:
        if len(text.strip()) == len("2025-11-03"):
            day = date.fromisoformat(text.strip())
            return datetime(day.year, day.month, day.day)
        return datetime.fromisoformat(text.strip()).replace(tzinfo=None)
    except ValueError:
        raise UsageError(
            f"--since {text!r} is not a date; give 2025-11-03 or 2025-11-03T14:20 (UTC)"
        ) from None


def parse_tiers(values: list[str]) -> tuple[str, ...]:
    """Tier names, comma-separated or repeated; each one of ``TIERS``."""
    tiers = tuple(t.strip() for value in values for t in value.split(",") if t.strip())
    unknown = [t for t in tiers if t not in TIERS]
    if unknown:
        raise UsageError(f"--tier {unknown[0]!r} is not a tier; expected one of {', '.join(TIERS)}")
    return tiers


def split_commas(values: list[str]) -> tuple[str, ...]:
    """``--agent droid,claude`` or ``--agent droid --agent claude``."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def described_filters(filters: dict[str, Any]) -> str:
    """``agents=droid,claude sessions=1-20``: the filters as the command line takes them."""

    def shown(value: Any) -> str:
        if isinstance(value, list):
            joiner = "-" if len(value) == 2 and all(isinstance(v, int) for v in value) else ","
            return joiner.join(map(str, value))
        return str(value)

    return " ".join(f"{name}={shown(value)}" for name, value in filters.items())
