"""``ALL_SESSIONS_COMPLETE`` (any or no extension): the agent says its batch is done.

The file's presence is the signal, so an empty file is valid. When it says more, the counts
the agent claims are read from:

- JSON (a ``.json`` file, or any file whose text starts with ``{``): top-level keys;
- text: ``Key: value`` lines (``Sessions: 43``, ``Total Q&A pairs: 4,300``).

A key counts as a claim when its words, once ``total``, ``count``, ``complete``, ``q``/``a``
and similar fillers are dropped, are just ``sessions``, ``files`` or ``pairs`` (singular or
plural): ``total_sessions``, ``sessions_completed``, ``qa_pairs``, ``Files written`` all
count, ``current_session`` does not. A JSON value counts when it is a whole number (or a
numeric string); a list counts as its length (``"sessions": [2, 3, 4]`` claims 3); in text
the first number of the value is taken. The first claim of each kind wins.

Broken JSON in a ``.json`` signal is rejected with its line and column; a file of another
name that only looks like JSON is kept as free text, since the signal itself still stands.
"""

from __future__ import annotations

import math
import re

from handlers.base import FileContext, Handler, Rejected
from handlers.jsonio import load_json
from handlers.models import CompletionSignal
from handlers.text import decode_text, first_int, split_key_value

MAX_TEXT = 4096  # the signal's text is kept for the status report, not as data

_FILLERS = frozenset(
    {"total", "count", "number", "of", "all", "the", "complete", "completed", "done"}
    | {"delivered", "generated", "written", "created", "imported", "q", "a", "qa", "num", "n"}
)
_CLAIMS = {
    "session": "sessions",
    "sessions": "sessions",
    "file": "files",
    "files": "files",
    "pair": "pairs",
    "pairs": "pairs",
}
_WORD_RE = re.compile(r"[a-z]+")
_NUMBER_RE = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+")
_MAX_COUNT = 2**31 - 1


def parse(data: bytes, ctx: FileContext) -> CompletionSignal | Rejected:
    """The signal with whatever counts it claims; only a broken ``.json`` signal is rejected."""
    decoded = decode_text(data, allow_cp1252=True)
    if isinstance(decoded, Rejected):
        return decoded
    text = "\n".join(decoded.strip().splitlines())
    if not text:
        return CompletionSignal()

    claims: dict[str, int] = {}
    is_json_name = ctx.name.lower().endswith(".json")
    if is_json_name or text.startswith("{"):
        value = load_json(text, expected="a JSON object of claimed counts, or an empty file")
        if isinstance(value, Rejected):
            if is_json_name:
                return value
        elif isinstance(value, dict):
            for key, item in value.items():
                _claim(claims, key, _count(item))
    else:
        for line in text.splitlines():
            kv = split_key_value(line)
            if kv is not None:
                _claim(claims, kv[0], first_int(kv[1]))

    return CompletionSignal(
        claimed_sessions=claims.get("sessions"),
        claimed_files=claims.get("files"),
        claimed_pairs=claims.get("pairs"),
        text=text[:MAX_TEXT],
    )


def _claim_kind(key: str) -> str | None:
    """``total_sessions`` -> sessions; ``Q&A Pairs`` -> pairs; ``current_session`` -> None."""
    words = [w for w in _WORD_RE.findall(key.lower()) if w not in _FILLERS]
    return _CLAIMS.get(words[0]) if len(words) == 1 else None


def _claim(claims: dict[str, int], key: str, count: int | None) -> None:
    kind = _claim_kind(key)
    if kind is not None and count is not None and kind not in claims:
        claims[kind] = count


def _count(value: object) -> int | None:
    """A claimed count from a JSON value: 43, 43.0, "43", "4,300", or a list (its length)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, list):
        return len(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if 0 <= value <= _MAX_COUNT else None
    if isinstance(value, str):
        stripped = value.strip()
        return first_int(stripped) if _NUMBER_RE.fullmatch(stripped) else None
    return None


HANDLER = Handler(
    name="signal",
    box="outbox",
    patterns=("ALL_SESSIONS_COMPLETE", "ALL_SESSIONS_COMPLETE.*"),
    parse=parse,
    importer="signal",
    description="the agent's batch is done: verify, report, hand refinement to the refiner",
)
