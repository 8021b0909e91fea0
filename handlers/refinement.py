"""``outbox/<refiner>/refinement_*.jsonl``: quality scores and duplicate marks for stored pairs.

The refiner is the agent ``Settings.refiner`` names (gemini unless configured otherwise).

One record a line names a pair by ``qa_id`` or ``question_key`` and carries any of
``quality_score`` (0..1), ``tier`` (premium | standard | low), ``duplicate_of`` (a qa_id)
and ``notes``. A record that cannot be used is skipped with its line and reason, so one bad
line does not cost the whole batch; the file is rejected only when its JSON Lines are broken
or no record is usable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

from handlers.base import FileContext, Handler, Rejected, Role
from handlers.jsonio import iter_json_lines, keys_found, kind_of
from handlers.models import RefinementRecord, RefinementResults, SkippedPair
from handlers.text import decode_text

Tier = Literal["premium", "standard", "low"]
TIERS: dict[str, Tier] = {"premium": "premium", "standard": "standard", "low": "low"}
EXPECTED = (
    "one JSON object a line with qa_id or question_key and any of quality_score (0..1), "
    "tier (premium | standard | low), duplicate_of (a qa_id), notes"
)

_KEY_RE = re.compile(r"[0-9a-f]{64}")
_DIGITS_RE = re.compile(r"[0-9]{1,18}")
_MAX_ID = 2**63 - 1  # a 64-bit primary key


class _Unusable(ValueError):
    """A field that is present but cannot be used; the message says what was expected."""


def parse(data: bytes, ctx: FileContext) -> RefinementResults | Rejected:
    """The usable records and the skipped ones; reject broken JSON Lines or no usable record."""
    text = decode_text(data)
    if isinstance(text, Rejected):
        return text
    lines = iter_json_lines(text, expected=EXPECTED)
    if isinstance(lines, Rejected):
        return lines
    if not lines:
        return Rejected(f"no records (the file is empty); expected {EXPECTED}")

    records: list[RefinementRecord] = []
    skipped: list[SkippedPair] = []
    for number, value in lines:
        try:
            records.append(_record(value, number))
        except _Unusable as exc:
            skipped.append(SkippedPair(position=number, line=number, reason=str(exc)))

    if not records:
        first = skipped[0]
        return Rejected(
            f"no usable refinement record ({len(skipped)} skipped; line {first.line}: "
            f"{first.reason})",
            first.line,
        )
    return RefinementResults(records=records, skipped=skipped)


def _record(value: object, line: int) -> RefinementRecord:
    """One line's record; raises ``_Unusable`` with the first problem found."""
    if not isinstance(value, dict):
        raise _Unusable(f"record is {kind_of(value)}; expected {EXPECTED}")
    record = RefinementRecord(
        line=line,
        qa_id=_id(value, "qa_id"),
        question_key=_question_key(value.get("question_key")),
        quality_score=_score(value.get("quality_score")),
        tier=_tier(value.get("tier")),
        duplicate_of=_id(value, "duplicate_of"),
        notes=_notes(value.get("notes")),
    )
    if record.qa_id is None and record.question_key is None:
        raise _Unusable(
            f"no qa_id or question_key (keys found: {keys_found(value)}); "
            "expected the pair's qa_id or its question_key"
        )
    changes = (record.quality_score, record.tier, record.duplicate_of, record.notes)
    if all(change is None for change in changes):
        raise _Unusable(
            "nothing to apply: expected any of quality_score, tier, duplicate_of, notes"
        )
    return record


def _id(record: Mapping[str, object], key: str) -> int | None:
    """A pair id: a positive whole number (``12``, ``12.0`` or ``"12"``); null means absent."""
    value = record.get(key)
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS_RE.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or not 1 <= number <= _MAX_ID:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        shown = f"{value:g}" if isinstance(value, float) else str(value) if numeric else None
        raise _Unusable(
            f"{key} is {shown or kind_of(value)}; expected a positive whole number (a qa_id)"
        )
    return number


def _question_key(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and _KEY_RE.fullmatch(value.strip().lower()):
        return value.strip().lower()
    raise _Unusable(
        f"question_key is {kind_of(value)} that is not 64 hexadecimal characters; "
        "expected the SHA-256 question key"
    )


def _score(value: object) -> float | None:
    if value is None:
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise _Unusable(f"quality_score is {kind_of(value)}; expected a number from 0 to 1")
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise _Unusable(f"quality_score {number:g} is out of range; expected a number from 0 to 1")
    return number


def _tier(value: object) -> Tier | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in TIERS:
        return TIERS[value.strip().lower()]
    shown = f'"{value[:40]}"' if isinstance(value, str) else kind_of(value)
    raise _Unusable(f"tier {shown} is unknown; expected one of {', '.join(TIERS)}")


def _notes(value: object) -> str | None:
    """Free text; a number is written as text, empty text is no note."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Unusable(f"notes is {kind_of(value)}; expected text")


HANDLER = Handler(
    name="refinement",
    box="outbox",
    patterns=("refinement_*.jsonl",),
    parse=parse,
    importer="refinement",
    agents=(Role.REFINER,),
    description="the refiner's quality scores and duplicate marks for stored pairs",
)
