"""The reference importer: the straightforward way to store the same rows inboxd stores.

Stdlib ``sqlite3`` (WAL, ``synchronous=NORMAL`` as inboxd), orjson to read, one
``executemany`` in one transaction; the same ``qa_pairs`` columns as inboxd's and the
indexes such an importer needs (the unique question key, the indicator and source file
lookups; inboxd keeps six more, three of them partial, for its status queries: more of
SQLite's work, measured in docs/performance.md), the same question key (deduplicated by the unique
index), pair numbers counted in memory per indicator, and the analysis flags computed the
straightforward way: one case-insensitive regex per flag (the patterns of
``daemon/ingest/analysis.py``, copied so this file needs nothing from inboxd; ``python -m bench``
checks they are still the same), or, with ``--substring``, by substring tests that give the
same flags for far less work.

No ledger, no archive, no status: what inboxd does beyond this is its overhead.

    python bench/reference.py [--substring] FILE DB  # database_qa_export_*.json or RAG *.jsonl
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import sys
import time
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson

FORMULA_RE = re.compile(r"formula|equation|calculat|=", re.IGNORECASE)
EXAMPLES_RE = re.compile(r"example|for instance|e\.g\.|such as", re.IGNORECASE)
SOURCES_RE = re.compile(
    r"according to|source|research|study|studies|analyst|https?://", re.IGNORECASE
)
CRYPTO_RE = re.compile(
    r"bitcoin|btc|ethereum|\beth\b|crypto|blockchain|on-chain|defi|altcoin|token|satoshi",
    re.IGNORECASE,
)
RAG_DISTANCE_THRESHOLD = 0.5

SCHEMA = """
CREATE TABLE IF NOT EXISTS crypto_indicators (
    id INTEGER PRIMARY KEY, indicator_name TEXT NOT NULL, indicator_category TEXT,
    session_number INTEGER, description TEXT, created_at DATETIME, updated_at DATETIME);
CREATE TABLE IF NOT EXISTS qa_pairs (
    qa_id INTEGER PRIMARY KEY, indicator_id INTEGER REFERENCES crypto_indicators (id),
    indicator_name TEXT, pair_number INTEGER, question TEXT NOT NULL, answer TEXT NOT NULL,
    difficulty_level TEXT, answer_length INTEGER, has_formula BOOLEAN, has_examples BOOLEAN,
    has_sources BOOLEAN, crypto_specific BOOLEAN, created_date TEXT,
    question_key VARCHAR(64), key_conflict BOOLEAN DEFAULT 0 NOT NULL, session_number INTEGER,
    agent TEXT, source_file_id INTEGER, source_database TEXT, source_ref TEXT,
    quality_score FLOAT, tier TEXT, duplicate_of INTEGER, refinement_notes TEXT,
    refined_at DATETIME, handed_at DATETIME, handed_file TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS uq_qa_pairs_question_key ON qa_pairs (question_key)
    WHERE key_conflict = 0;
CREATE INDEX IF NOT EXISTS ix_qa_pairs_indicator_id ON qa_pairs (indicator_id);
CREATE INDEX IF NOT EXISTS ix_qa_pairs_source_file_id ON qa_pairs (source_file_id);
"""

INSERT = (
    "INSERT OR IGNORE INTO qa_pairs (indicator_id, indicator_name, pair_number, question, "
    "answer, difficulty_level, answer_length, has_formula, has_examples, has_sources, "
    "crypto_specific, created_date, question_key, key_conflict, session_number, agent, "
    "source_database, source_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)"
)

# (session, indicator, question, answer, difficulty, source_ref)
Pair = tuple[int | None, str, str, str, str | None, str | None]


def question_key(question: str) -> str:
    """inboxd's key: SHA-256 of the NFKC, case-folded, white-space-collapsed question."""
    normal = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


# The regexes' alternatives are literals: in ASCII text, a case-insensitive match is a
# substring of the lower-cased text. Only ``\beth\b`` needs a regex for its word boundaries.
TERMS = (
    ("formula", "equation", "calculat", "="),
    ("example", "for instance", "e.g.", "such as"),
    ("according to", "source", "research", "study", "studies", "analyst", "http://", "https://"),
    (
        "bitcoin",
        "btc",
        "ethereum",
        "crypto",
        "blockchain",
        "on-chain",
        "defi",
        "altcoin",
        "token",
        "satoshi",
    ),
)
ETH_WORD_RE = re.compile(r"\beth\b")

Flags = tuple[bool, bool, bool, bool]


def flags(answer: str) -> Flags:
    """has_formula, has_examples, has_sources, crypto_specific: one regex each."""
    return (
        FORMULA_RE.search(answer) is not None,
        EXAMPLES_RE.search(answer) is not None,
        SOURCES_RE.search(answer) is not None,
        CRYPTO_RE.search(answer) is not None,
    )


def substring_flags(answer: str) -> Flags:
    """The same flags from substring tests: exact for ASCII text, the rest goes to ``flags``.

    Non-ASCII text needs the regexes: their case-insensitive matching knows letters that
    ``lower()`` does not (``ſ`` matches ``s``, ``ı`` matches ``i``).
    """
    if not answer.isascii():
        return flags(answer)
    low = answer.lower()
    formula, examples, sources, crypto = (any(t in low for t in terms) for terms in TERMS)
    if not crypto and "eth" in low:
        crypto = ETH_WORD_RE.search(low) is not None
    return formula, examples, sources, crypto


def connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    return conn


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def export_pairs(path: Path) -> Iterator[Pair]:
    """A ``database_qa_export_*.json``, read whole (as inboxd does)."""
    document = orjson.loads(path.read_bytes())
    for session in document["sessions"]:
        number, topic = int(session["session_id"]), str(session["topic"]).strip()
        for pair in session["qa_pairs"]:
            question, answer = _text(pair.get("question")), _text(pair.get("answer"))
            if question and answer:
                yield number, topic, question, answer, _text(pair.get("difficulty")), None


def rag_pairs(path: Path) -> Iterator[Pair]:
    """A RAG export in JSON Lines, streamed a line at a time; far records left out."""
    with open(path, "rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            record = orjson.loads(line)
            if record.get("distance", 0) >= RAG_DISTANCE_THRESHOLD:
                continue
            question, answer = _text(record.get("query")), _text(record.get("response"))
            meta = record.get("metadata") or {}
            if question and answer and meta.get("indicator"):
                session = record.get("session_id")
                yield (
                    int(session) if session is not None else None,
                    meta["indicator"],
                    question,
                    answer,
                    None,
                    _text(record.get("id")),
                )


def import_file(
    conn: sqlite3.Connection, path: Path, agent: str = "claude", *, substring: bool = False
) -> int:
    """Import one file in one transaction; returns the number of pairs stored.

    ``substring``: compute the flags with ``substring_flags`` (same values, less work).
    """
    analyse = substring_flags if substring else flags
    pairs = rag_pairs(path) if path.suffix == ".jsonl" else export_pairs(path)
    source = path.stem if path.name.startswith("database_qa_export") else None
    now = datetime.now(UTC).replace(tzinfo=None)
    today = now.date().isoformat()
    side = conn.cursor()  # indicators are created while executemany consumes the rows
    indicators = {
        name.casefold(): id_
        for id_, name in side.execute("SELECT id, indicator_name FROM crypto_indicators")
    }
    numbers = dict(
        side.execute("SELECT indicator_id, MAX(pair_number) FROM qa_pairs GROUP BY indicator_id")
    )
    known = len(indicators)

    def rows() -> Iterator[tuple[object, ...]]:
        for session, name, question, answer, difficulty, ref in pairs:
            indicator_id = indicators.get(name.casefold())
            if indicator_id is None:
                side.execute(
                    "INSERT INTO crypto_indicators (indicator_name, session_number, description,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (name, session, f"{name} - Session {session}", now, now),
                )
                indicator_id = indicators[name.casefold()] = side.lastrowid
            number = numbers.get(indicator_id, 0) + 1
            numbers[indicator_id] = number
            yield (
                indicator_id,
                name,
                number,
                question,
                answer,
                difficulty,
                len(answer),
                *analyse(answer),
                today,
                question_key(question),
                session,
                agent,
                source,
                ref,
            )

    before = conn.total_changes
    conn.execute("BEGIN")
    try:
        conn.executemany(INSERT, rows())
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return conn.total_changes - before - (len(indicators) - known)


def main(argv: list[str]) -> int:
    substring = "--substring" in argv
    args = [a for a in argv if a != "--substring"]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    started = time.perf_counter()
    conn = connect(Path(args[1]))
    stored = import_file(conn, Path(args[0]), substring=substring)
    conn.close()
    print(f"stored {stored} pairs in {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
