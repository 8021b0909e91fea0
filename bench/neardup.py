"""Issue 18: near-duplicate detection's cost.

- the export import (``export.export_file``) with detection on (``flag``) and off, in
  process, runs alternated on fresh roots: the ratio on / off (goal <= 1.2x);
- ``inboxd dedup --rebuild`` over ``neardup_stored`` pairs written straight into a fresh
  database (1,000,000 in the full run): its time and peak RSS;
- then the index's load from those signatures in a fresh process's memory (time, and the
  memory it added), and single-pair searches against it, as an import of a one-pair file
  makes them: ms per pair (goal <= 2 ms), and per pair in chunks of 1,000 as a large file's.
"""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import INBOXD, Config, Row, child_env, log, make_root, median, run_measured
from bench.export import export_file
from bench.inproc import prepared
from daemon.ingest.pipeline import Pipeline
from daemon.neardup.index import shared_index
from daemon.neardup.matcher import Detector, Text, search
from daemon.neardup.signature import fingerprints
from daemon.neardup.text import shingles
from handlers.text import question_key

TEMPLATES = (
    "What does {i} measure on the {t} chart",
    "How is {i} calculated with a {n} period",
    "What does it mean when {i} rises above {n}",
    "How do traders use {i} with {w} and {v}",
    "Why is {i} unreliable during {w} {v} phases",
    "Can {i} confirm a {w} breakout on the {t} timeframe",
    "How does {i} react to {w} {v} after a {n} percent move",
    "What is the best {w} setting of {i} for {v}",
)
TIMEFRAMES = ("1-hour", "4-hour", "daily", "weekly", "15-minute", "monthly")
SYLLABLES = ("ka", "lo", "mi", "ra", "tu", "ve", "zo", "shi", "pen", "dor", "gal", "mur")


def _names(rng: random.Random, count: int) -> list[str]:
    return [
        " ".join(
            "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).title()
            for _ in range(rng.randint(1, 2))
        )
        for _ in range(count)
    ]


def questions(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` distinct (question, indicator): templates over 2,000 made-up indicator names,
    numbers, timeframes and a 3,000-word vocabulary (many share a template and a name)."""
    rng = random.Random(seed)
    names = _names(rng, 2000)
    vocabulary = ["".join(rng.choice(SYLLABLES) for _ in range(3)) for _ in range(3000)]
    found: dict[str, str] = {}
    while len(found) < count:
        name = rng.choice(names)
        text = rng.choice(TEMPLATES).format(
            i=name,
            n=rng.choice((9, 14, 20, 26, 50, 70, 100, 200)),
            t=rng.choice(TIMEFRAMES),
            w=rng.choice(vocabulary),
            v=rng.choice(vocabulary),
        )
        found.setdefault(f"{text}?", name)
    return list(found.items())


def _import(export: Path, root: Path, policy: str, pairs: int) -> tuple[float, int]:
    make_root(root)
    target = root / "outbox" / "claude" / export.name
    os.link(export, target)
    with prepared(root, near_duplicate_policy=policy) as (settings, db):
        pipeline = Pipeline(settings, db)
        gc.collect()
        started = time.perf_counter()
        outcome = pipeline.process(target)
        seconds = time.perf_counter() - started
    if outcome.outcome != "imported" or outcome.result.stored + outcome.result.duplicate < pairs:
        raise RuntimeError(f"inboxd: {outcome.outcome} {outcome.result.stored} {outcome.reason}")
    return seconds, outcome.result.near_duplicate


def _stored_database(root: Path, count: int) -> Path:
    """A fresh database holding ``count`` pairs without signatures (as an adopted one)."""
    make_root(root)
    with prepared(root) as (settings, _):
        path = settings.root_path / "var" / "inboxd.db"
    started = time.perf_counter()
    with closing(sqlite3.connect(path)) as connection:
        rows = (
            (question, "An answer.", name, question_key(question), 0)
            for question, name in questions(count, seed=18)
        )
        connection.executemany(
            "INSERT INTO qa_pairs (question, answer, indicator_name, question_key, key_conflict)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        connection.commit()
    log(f"neardup: {count:,} pairs written in {time.perf_counter() - started:.0f} s")
    return path


def _rss_mib() -> float:
    """This process's resident memory now (Linux: /proc/self/statm)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Loaded:
    """The index's first load from the stored signatures: time, memory it added."""

    seconds: float
    rss_mib: float
    pairs: int


def _queries(root: Path, count: int) -> tuple[list[float], float, Loaded]:
    """ms per pair: single-pair searches, and per pair in one batch of ``count``; the
    index's load first (its time and the memory it added)."""
    stored = questions(count, seed=18)[: count // 2]  # asked again, in other words
    texts: list[Text] = [(f"In practice, {q.lower()}", "", name) for q, name in stored]
    texts += [(q, "", name) for q, name in questions(count - len(texts), seed=99)]  # new
    with prepared(root) as (settings, db), db.reader() as session:
        detector = Detector.from_settings(settings)
        fingerprints([shingles("warm up")])
        gc.collect()
        before, started = _rss_mib(), time.perf_counter()
        index = shared_index(db.engine)
        index.refresh(db.engine)
        loaded = Loaded(time.perf_counter() - started, _rss_mib() - before, index.pairs)
        log(f"neardup: {loaded.pairs:,} signatures loaded in {loaded.seconds:.1f} s")
        single = []
        for text in texts:
            started = time.perf_counter()
            search(session, detector, [text])
            single.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        _, matches = search(session, detector, texts)
        batched = (time.perf_counter() - started) * 1000 / len(texts)
    found = sum(1 for m in matches[: len(stored)] if m is not None)
    log(f"neardup: {found} of {len(stored)} reworded stored questions found")
    return single, batched, loaded


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    export, pairs = export_file(cfg)
    work = cfg.work / "neardup"
    work.mkdir(parents=True, exist_ok=True)
    fingerprints([shingles("warm up")])  # datasketch's import is not the import's cost
    n = cfg.repeats
    log(f"neardup: export import, detection off and on, alternated x{n}")
    off: list[float] = []
    on: list[float] = []
    found = 0
    for i in range(n):
        off.append(_import(export, work / f"off-{i}", "off", pairs)[0])
        seconds, found = _import(export, work / f"on-{i}", "flag", pairs)
        on.append(seconds)
    stored = cfg.neardup_stored
    root = work / "stored"
    _stored_database(root, stored)
    log(f"neardup: inboxd dedup --rebuild over {stored:,} pairs")
    rebuilt = run_measured(
        [str(INBOXD), "dedup", "--rebuild", "--root", str(root)],
        output=work / "rebuild.out",
        env=child_env(),
    ).check("inboxd dedup --rebuild")
    log(f"neardup: {cfg.neardup_queries} single-pair searches against {stored:,} signatures")
    single, batched, loaded = _queries(root, cfg.neardup_queries)
    shared["neardup"] = {"export_near_duplicates": found, "stored": stored}
    return [
        Row(
            "near-duplicates",
            f"export import ({pairs:,} pairs), detection on vs off [median of {n}; {found} found]",
            median(on),
            "s",
            median(off),
            "near_duplicate_policy = off",
            "≤ 1.2x",
            median(on) <= 1.2 * median(off),
            samples=on,
            baseline_samples=off,
        ),
        Row(
            "near-duplicates",
            f"one pair searched against {stored:,} stored signatures [median of {len(single)}]",
            median(single),
            "ms",
            target="≤ 2 ms",
            met=median(single) <= 2,
            show_ratio=False,
            samples=single,
        ),
        Row(
            "near-duplicates",
            f"per pair, {len(single)} searched in one batch against {stored:,}",
            batched,
            "ms",
            show_ratio=False,
        ),
        Row(
            "near-duplicates",
            f"the index loaded from {loaded.pairs:,} stored signatures (memory it added: "
            f"{loaded.rss_mib:.0f} MiB)",
            loaded.seconds,
            "s",
            show_ratio=False,
        ),
        Row(
            "near-duplicates",
            f"inboxd dedup --rebuild over {stored:,} pairs (peak RSS "
            f"{rebuilt.peak_rss_mib:.0f} MiB)",
            rebuilt.seconds,
            "s",
            show_ratio=False,
            cpu=rebuilt.cpu_seconds,
        ),
    ]
