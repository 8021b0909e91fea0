"""Deterministic delivery generators shared by the benchmarks and the large tests."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson

_WORDS = (
    "price",
    "momentum",
    "volume",
    "liquidity",
    "bitcoin",
    "ethereum",
    "moving",
    "average",
    "signal",
    "divergence",
    "support",
    "resistance",
    "trend",
    "volatility",
    "funding",
    "rate",
    "on-chain",
    "whale",
    "exchange",
    "order",
    "book",
    "halving",
    "miner",
    "hash",
    "stablecoin",
    "yield",
    "staking",
    "derivatives",
    "basis",
    "spread",
)


def answer_text(rng: random.Random, length: int) -> str:
    words: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(_WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:length]


def export_document(
    *,
    sessions: int = 126,
    pairs: int = 12_188,
    answer_length: int = 3_233,
    seed: int = 7,
    question_prefix: str = "export",
    first_session: int = 1,
) -> dict[str, Any]:
    """A ``database_qa_export_*.json`` body: sessions numbered backwards, as the users' is."""
    rng = random.Random(seed)
    per_session = [pairs // sessions + (1 if i < pairs % sessions else 0) for i in range(sessions)]
    body = []
    n = 0
    for index, count in enumerate(per_session):
        number = first_session + sessions - 1 - index
        qa = []
        for _ in range(count):
            n += 1
            length = max(40, int(rng.gauss(answer_length, answer_length * 0.2)))
            qa.append(
                {
                    "question": f"{question_prefix} question {n} about session {number}?",
                    "answer": answer_text(rng, length),
                }
            )
        body.append({"session_id": number, "topic": f"Topic {number}", "qa_pairs": qa})
    return {"export_date": "2025-10-30T01:23:43", "sessions": body}


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document))
    return path


# --------------------------------------------------------------------------- benchmark data
# Everything below is deterministic (seeded) and used only by ``python -m bench``.

# Words and phrases that set (or nearly set) the analysis flags, with their edge cases: case,
# word boundaries (``eth`` vs ``Ethernet``), and, in a few answers, non-ASCII letters that a
# case-insensitive regex matches (``ſ`` is ``s``, the Kelvin sign ``K`` is ``k``).
TELLING_PHRASES = (
    "the formula is",
    "Equation",
    "calculated over",
    "RSI = 100 - 100/(1+RS)",
    "for example",
    "For Instance",
    "e.g.",
    "E.G.",
    "such as",
    "according to",
    "Source:",
    "research",
    "a study",
    "Studies show",
    "analysts",
    "https://example.org/x",
    "HTTP://EXAMPLE.ORG",
    "ETH",
    "eth",
    "Eth/BTC",
    "Ethernet",
    "teeth",
    "BTC",
    "DeFi",
    "token",
    "Satoshi",
    "altcoins",
    "blockchain",
    "crypto",
    "stud",
    "exampl",
    "formul",
)
NON_ASCII_PHRASES = (
    "naïve estimate",
    "a €5 fee",
    "ſource",
    "ſtudies",
    "to\u212aen",
    "calculat\u0131on",
    "the 50\u2013200 day range",
    "\u201cgolden cross\u201d",
)

_NOT_CRYPTO = (
    ("bitcoin", "bondmkt"),
    ("ethereum", "treasury"),
    ("on-chain", "on-books"),
    ("stablecoin", "moneymarket"),
)


def with_telling_phrases(
    document: dict[str, Any], *, seed: int = 11, non_ascii_share: float = 0.05
) -> dict[str, Any]:
    """The export with 0-3 telling phrases spliced into each answer, its length unchanged.

    ``export_document``'s vocabulary sets no flag but ``crypto_specific``; this gives every
    flag a realistic mix of yes and no, so comparing flags between importers means something.
    About ``non_ascii_share`` of the answers also get one non-ASCII phrase, and a third lose
    the crypto words of the vocabulary, so ``crypto_specific`` turns on the phrases too.
    """
    rng = random.Random(seed)
    sessions = []
    for session in document["sessions"]:
        pairs = []
        for pair in session["qa_pairs"]:
            answer = pair["answer"]
            if rng.random() < 1 / 3:
                for word, other in _NOT_CRYPTO:
                    answer = answer.replace(word, other)
            count = rng.choices((0, 1, 2, 3), weights=(40, 30, 20, 10))[0]
            chosen = rng.sample(TELLING_PHRASES, count)
            if rng.random() < non_ascii_share:
                chosen.append(rng.choice(NON_ASCII_PHRASES))
            for phrase in chosen:
                at = rng.randrange(0, max(1, len(answer) - len(phrase) - 2))
                at = answer.rfind(" ", 0, at) + 1
                answer = f"{answer[:at]}{phrase} {answer[at:]}"
            pairs.append({**pair, "answer": answer[: len(pair["answer"])]})
        sessions.append({**session, "qa_pairs": pairs})
    return {**document, "sessions": sessions}


def export_pair_count(document: dict[str, Any]) -> int:
    return sum(len(session["qa_pairs"]) for session in document["sessions"])


INDICATORS = (
    "SMA",
    "EMA",
    "WMA",
    "MACD",
    "RSI",
    "Stochastic",
    "Bollinger Bands",
    "ATR",
    "ADX",
    "OBV",
    "MFI",
    "VWAP",
    "Ichimoku",
    "Parabolic SAR",
    "CCI",
    "Williams %R",
    "ROC",
    "Keltner Channels",
    "Donchian Channels",
    "Pi Cycle Top",
    "MVRV",
    "NVT",
    "SOPR",
    "Puell Multiple",
    "Hash Ribbons",
    "Funding Rate",
    "Open Interest",
    "TVL",
    "Stock to Flow",
    "Realized Cap",
)


def answer_pool(size: int, length: int, seed: int) -> list[str]:
    """``size`` answers of about ``length`` characters, to draw from cheaply."""
    rng = random.Random(seed)
    return [answer_text(rng, max(40, int(rng.gauss(length, length * 0.2)))) for _ in range(size)]


def small_qa_document(
    index: int,
    *,
    pairs: int = 20,
    pool: list[str],
    tag: str = "burst",
) -> dict[str, Any]:
    """One agent's Q&A file (shape 1 of docs/formats.md) with ``pairs`` questions unique to it."""
    indicator = INDICATORS[index % len(INDICATORS)]
    qa = [
        {
            "question": f"{tag} file {index} pair {j}: how is {indicator} read in case {j}?",
            "answer": pool[(index * pairs + j) % len(pool)],
            "difficulty": ("beginner", "intermediate", "advanced")[j % 3],
        }
        for j in range(pairs)
    ]
    return {"indicator": indicator, "session": 1 + index % 40, "qa_pairs": qa}


def write_rag_jsonl(
    path: Path,
    target_bytes: int,
    *,
    seed: int = 3,
    answer_length: int = 2_000,
    threshold: float = 0.5,
) -> dict[str, int]:
    """Stream a RAG export (JSON Lines) of about ``target_bytes`` to disk, never all in memory.

    About one record in eight is at or above the distance ``threshold`` (filtered by importers).
    Returns the counts: records, kept (below the threshold), bytes.
    """
    rng = random.Random(seed)
    pool = answer_pool(997, answer_length, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = kept = written = 0
    chunk: list[bytes] = []
    with open(path, "wb") as out:
        while written < target_bytes:
            records += 1
            indicator = INDICATORS[rng.randrange(len(INDICATORS))]
            distance = round(rng.uniform(0.05, 0.5 / 0.875), 4)
            kept += distance < threshold
            line = (
                orjson.dumps(
                    {
                        "id": f"rag-{records}",
                        "session_id": str(1 + rng.randrange(126)),
                        "query": (
                            f"rag query {records}: what does {indicator} say at step {records}?"
                        ),
                        "response": pool[rng.randrange(len(pool))],
                        "distance": distance,
                        "metadata": {
                            "indicator": indicator,
                            "category": "Benchmark",
                            "timestamp": f"2025-10-{1 + records % 28:02d}T12:00:00Z",
                        },
                    }
                )
                + b"\n"
            )
            chunk.append(line)
            written += len(line)
            if len(chunk) >= 2_000:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))
    return {"records": records, "kept": kept, "bytes": written}


_TIERS = ("premium", "standard", "low")
_REFINED_AT = "2025-11-02 09:30:00.000000"


def fill_stored_pairs(
    db_path: Path, pairs: int, *, answer_length: int = 1_000, seed: int = 11
) -> dict[str, int]:
    """``pairs`` stored pairs in an inboxd database already at the schema's head, written
    directly (sqlite3, one transaction): a large database in seconds rather than an import.

    215 indicators over 43 sessions, 100 pairs per file; a quarter of the pairs refined
    (a random score and tier, premium, standard or low, and a refinement time), one in fifty
    marked a duplicate. Answers (~``answer_length`` characters) come from a pool of 64.
    """
    import hashlib
    import sqlite3

    rng = random.Random(seed)
    pool = answer_pool(64, answer_length, seed)
    indicators = [
        (i + 1, f"Indicator {i + 1:03d}", f"category {i % 7}", i // 5 + 1) for i in range(215)
    ]
    connection = sqlite3.connect(db_path)
    connection.execute("PRAGMA synchronous = OFF")  # a benchmark's scratch database
    connection.execute("PRAGMA cache_size = -262144")
    # the pairs' indexes are built after the rows (a sort, not a random insert a row):
    # the same SQL, so the schema ends as it began
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'qa_pairs'"
        " AND sql IS NOT NULL"
    ).fetchall()
    with connection:
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        connection.executemany(
            "INSERT INTO crypto_indicators (id, indicator_name, indicator_category, session_number)"
            " VALUES (?, ?, ?, ?)",
            indicators,
        )
        files = (pairs + 99) // 100
        connection.executemany(
            "INSERT INTO files (id, agent, box, rel_path, sha256, size, kind, outcome,"
            " pairs_delivered, pairs_stored, pairs_duplicate, pairs_skipped, pairs_filtered,"
            " processed_at, seen_count) VALUES (?, 'droid', 'outbox', ?, ?, 1, 'qa-json',"
            " 'imported', 100, 100, 0, 0, 0, '2025-11-01 12:00:00.000000', 1)",
            [
                (
                    f + 1,
                    f"outbox/droid/file_{f:06d}.json",
                    hashlib.sha256(str(f).encode()).hexdigest(),
                )
                for f in range(files)
            ],
        )

        def rows() -> Any:
            for n in range(pairs):
                ind_id, name, _, session = indicators[n % 215]
                question = f"Question {n} about {name}: how does it read the {rng.choice(_WORDS)}?"
                answer = pool[n % len(pool)]
                refined = n % 4 == 0
                tier = rng.choice(_TIERS) if refined else None
                yield (
                    ind_id,
                    name,
                    n // 215 + 1,
                    question,
                    answer,
                    len(answer),
                    n % 3 == 0,
                    n % 5 == 0,
                    False,
                    True,
                    hashlib.sha256(question.lower().encode()).hexdigest(),
                    session,
                    "droid",
                    n // 100 + 1,
                    round(rng.random(), 3) if refined else None,
                    tier,
                    _REFINED_AT if refined else None,
                    (n - 1) if n % 50 == 49 else None,
                )

        connection.executemany(
            "INSERT INTO qa_pairs (indicator_id, indicator_name, pair_number, question, answer,"
            " answer_length, has_formula, has_examples, has_sources, crypto_specific,"
            " question_key, key_conflict, session_number, agent, source_file_id, quality_score,"
            " tier, refined_at, duplicate_of)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )
        for _, sql in indexes:
            connection.execute(sql)
    connection.close()
    return {"pairs": pairs, "indicators": len(indicators), "files": files}


# docs/formats.md's shapes of a Q&A delivery, as ``bench.memory`` measures them
PAIR_SHAPES = ("list", "object", "export", "jsonl", "utf16")


def write_pairs_file(path: Path, shape: str, pairs: int, *, seed: int = 5) -> dict[str, int]:
    """A delivery of ``pairs`` pairs (~1,180 bytes each, as agents' are) in one of
    ``PAIR_SHAPES``, written as it goes, never all in memory.

    ``list``: a bare list on one line (what ``json.dump`` writes); ``object``: the pairs under
    ``qa_pairs`` with the file's indicator and session, one pair a line; ``export``: a
    multi-session export of 126 sessions; ``jsonl``: JSON Lines; ``utf16``: the object in
    UTF-16 with its BOM. Returns the bytes written.
    """
    rng = random.Random(seed)
    pool = answer_pool(997, 1_100, seed)
    sessions = 126
    per_session = -(-pairs // sessions)
    encoding = "utf-16-le" if shape == "utf16" else "utf-8"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:

        def write(text: str) -> None:
            out.write(text.encode(encoding))

        if shape == "utf16":
            out.write(b"\xff\xfe")  # the BOM
        if shape in ("object", "utf16"):
            write('{"indicator": "RSI", "session": 3, "category": "Momentum", "qa_pairs": [\n')
        elif shape == "list":
            write("[")
        elif shape == "export":
            write('{"export_date": "2025-10-30T01:23:43", "sessions": [')
        for n in range(pairs):
            pair = orjson.dumps(
                {
                    "question": f"{shape} question {n} about {INDICATORS[n % len(INDICATORS)]}?",
                    "answer": pool[rng.randrange(len(pool))],
                    "difficulty": ("beginner", "intermediate", "advanced")[n % 3],
                }
            ).decode()
            if shape == "jsonl":
                write(pair + "\n")
            elif shape == "export":
                first, last = n % per_session == 0, (n + 1) % per_session == 0 or n + 1 == pairs
                number = sessions - n // per_session
                if first:
                    opening = f'{{"session_id": {number}, "topic": "Topic {number}", "qa_pairs": ['
                    write(("," if n else "") + opening)
                write(pair + ("]}" if last else ","))
            else:
                write(pair + ("," if n + 1 < pairs else "") + ("\n" if shape != "list" else ""))
        write({"list": "]", "object": "]}", "utf16": "]}", "export": "]}", "jsonl": ""}[shape])
        written = out.tell()
    return {"pairs": pairs, "bytes": written}
