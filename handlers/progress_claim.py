"""``status.txt``: the agent's own claim of progress, ``Key: value`` a line.

Every key is kept as given (so a claim can be shown beside the database's numbers even when
the agent invents its own keys); the known ones are also read into typed fields.
"""

from __future__ import annotations

import re

from handlers.base import FileContext, Handler, Rejected
from handlers.models import ProgressClaim
from handlers.text import decode_text, first_int, split_key_value

KNOWN_KEYS = ("Sessions Complete", "Current Session", "Last Updated", "Notes")

_FRACTION_RE = re.compile(r"([0-9]{1,9})\s*(?:/|of|out of)\s*([0-9]{1,9})", re.IGNORECASE)
_ALIASES = {
    "sessions complete": "Sessions Complete",
    "sessions completed": "Sessions Complete",
    "completed sessions": "Sessions Complete",
    "current session": "Current Session",
    "last updated": "Last Updated",
    "updated": "Last Updated",
    "notes": "Notes",
    "note": "Notes",
}


def parse(data: bytes, ctx: FileContext) -> ProgressClaim | Rejected:
    """Read the claim; reject a file with no ``Key: value`` line or none of the known keys."""
    text = decode_text(data, allow_cp1252=True)
    if isinstance(text, Rejected):
        return text

    fields: dict[str, str] = {}
    known: dict[str, str] = {}
    for line in text.splitlines():
        kv = split_key_value(line)
        if kv is None:
            continue
        key, value = kv
        fields[key] = value
        canonical = _ALIASES.get(" ".join(key.replace("_", " ").lower().split()))
        if canonical is not None:
            known[canonical] = value

    expected = ", ".join(f"'{k}: ...'" for k in KNOWN_KEYS)
    if not fields:
        return Rejected(f"no 'Key: value' lines; expected {expected}")
    if not known:
        found = ", ".join(f"'{k}'" for k in list(fields)[:10])
        return Rejected(f"none of the known keys found (found {found}); expected {expected}")

    complete, total = _sessions(known.get("Sessions Complete"))
    current = known.get("Current Session")
    return ProgressClaim(
        sessions_complete=complete,
        sessions_total=total,
        current_session=first_int(current) if current is not None else None,
        last_updated=known.get("Last Updated") or None,
        notes=known.get("Notes") or None,
        fields=fields,
    )


def _sessions(value: str | None) -> tuple[int | None, int | None]:
    """``12/43`` or ``12 of 43`` -> (12, 43); a lone ``12`` -> (12, None)."""
    if value is None:
        return None, None
    m = _FRACTION_RE.search(value)
    if m:
        return int(m.group(1)), int(m.group(2))
    return first_int(value), None


HANDLER = Handler(
    name="progress",
    box="outbox",
    patterns=("status.txt",),
    parse=parse,
    importer="progress",
    description="the agent's own progress claim, shown beside the database's numbers",
)
