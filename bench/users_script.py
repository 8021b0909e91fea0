"""The users' own integration script, as the issue describes it (the pattern, not their file).

On the legacy schema (``tests/files/legacy_production.sql``): for each export session
the indicator is looked up (or created) by name; for every pair a ``SELECT MAX(pair_number)``
for that indicator, three case-insensitive regex scans of the answer for ``has_formula``,
``has_examples`` and ``has_sources`` (``crypto_specific`` is set for every pair, as in their
rows), and a one-row INSERT; one commit at the end. Stdlib only, as their script.

    python bench/users_script.py FILE DB            # DB: made with make_legacy_db()
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from datetime import date
from pathlib import Path

LEGACY_SQL = Path(__file__).resolve().parent.parent / "tests/files/legacy_production.sql"

FORMULA = r"formula|equation|calculat|="
EXAMPLES = r"example|for instance|e\.g\.|such as"
SOURCES = r"according to|source|research|study|studies|analyst|https?://"


def make_legacy_db(db: Path, *, index: bool) -> None:
    """The production schema (and its four sample rows); ``index`` on qa_pairs.indicator_id."""
    conn = sqlite3.connect(db)
    conn.executescript(LEGACY_SQL.read_text())
    if index:
        conn.execute("CREATE INDEX idx_qa_pairs_indicator ON qa_pairs (indicator_id)")
    conn.commit()
    conn.close()


def import_export(path: Path, db: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    conn = sqlite3.connect(db)
    cur = conn.cursor()
    today = date.today().isoformat()
    count = 0
    for session in data["sessions"]:
        name = session["topic"]
        row = cur.execute(
            "SELECT id FROM crypto_indicators WHERE indicator_name = ?", (name,)
        ).fetchone()
        if row is None:
            cur.execute(
                "INSERT INTO crypto_indicators (indicator_name, session_number, description, "
                "created_at, updated_at) VALUES (?, ?, ?, datetime('now'), datetime('now'))",
                (name, session["session_id"], f"{name} - Session {session['session_id']}"),
            )
            indicator_id = cur.lastrowid
        else:
            indicator_id = row[0]
        for pair in session["qa_pairs"]:
            question, answer = pair["question"], pair["answer"]
            last = cur.execute(
                "SELECT MAX(pair_number) FROM qa_pairs WHERE indicator_id = ?", (indicator_id,)
            ).fetchone()[0]
            has_formula = bool(re.search(FORMULA, answer, re.IGNORECASE))
            has_examples = bool(re.search(EXAMPLES, answer, re.IGNORECASE))
            has_sources = bool(re.search(SOURCES, answer, re.IGNORECASE))
            cur.execute(
                "INSERT INTO qa_pairs (indicator_id, indicator_name, pair_number, question, "
                "answer, difficulty_level, answer_length, has_formula, has_examples, "
                "has_sources, crypto_specific, created_date) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    indicator_id,
                    name,
                    (last or 0) + 1,
                    question,
                    answer,
                    pair.get("difficulty", "intermediate"),
                    len(answer),
                    has_formula,
                    has_examples,
                    has_sources,
                    True,
                    today,
                ),
            )
            count += 1
    conn.commit()
    conn.close()
    return count


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    started = time.perf_counter()
    count = import_export(Path(argv[0]), Path(argv[1]))
    print(f"inserted {count} pairs in {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
