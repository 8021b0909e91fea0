"""Issue 18: near-duplicate detection's cost.

- the export import (``export.export_file``) with detection on (``flag``) and off, in
  process, runs alternated on fresh roots: the ratio on / off (goal <= 1.2x);
- ``inboxd dedup --rebuild`` over ``neardup_rebuilt`` pairs written straight into a fresh
  database (200,000 in the full run): its time and peak RSS;
- ``neardup_stored`` pairs (1,000,000) written with their signatures, as a rebuild leaves
  them;
- then the index's load from those signatures into the bench process (time, and the
  memory it added), and single-pair searches against it, as an import of a one-pair file
  makes them: ms per pair (goal <= 2 ms), and per pair in chunks of 1,000 as a large file's.
"""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import INBOXD, Config, Row, child_env, log, make_root, median, run_measured
from bench.export import export_file
from bench.inproc import prepared
from daemon.ingest.pipeline import Pipeline
from daemon.neardup.detector import Detector, Text
from daemon.neardup.index import shared_index
from daemon.neardup.matcher import search
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


@dataclass
class Loaded:
    """The index's load from the stored signatures in a process of its own: its time, its
    arrays' size, and the process's peak RSS against the same process not loading it."""

    seconds: float
    array_mib: float
    peak_rss_mib: float
    without_mib: float
    pairs: int


def _load_in_child(root: Path, work: Path) -> Loaded:
    """``python -m bench.neardup ROOT load|none``: a fresh process, as a daemon's start."""
    runs = {}
    for what in ("load", "none"):
        runs[what] = run_measured(
            [sys.executable, "-m", "bench.neardup", str(root), what],
            output=work / f"index-{what}.out",
            env=child_env(),
        ).check(f"the index's {what}")
    seconds, array_mib, pairs = runs["load"].output.read_text().split()[-3:]
    loaded = Loaded(
        float(seconds),
        float(array_mib),
        runs["load"].peak_rss_mib,
        runs["none"].peak_rss_mib,
        int(pairs),
    )
    log(f"neardup: {loaded.pairs:,} signatures loaded in {loaded.seconds:.1f} s")
    return loaded


def _child(root: Path, load: bool) -> None:
    """The child of ``_load_in_child``: the database opened, the index loaded or not."""
    with prepared(root) as (_settings, db):
        started = time.perf_counter()
        index = shared_index(db.engine)
        if load:
            index.refresh(db.engine)
        array = (index.main.nbytes + index.recent.nbytes) / 2**20
        print(f"{time.perf_counter() - started:.3f} {array:.1f} {index.pairs}")


def _sign(path: Path) -> None:
    """Every stored pair's signature written straight, as ``dedup --rebuild`` leaves them
    (its marks aside): the index a search then loads, without the rebuild's time."""
    started = time.perf_counter()
    with closing(sqlite3.connect(path)) as connection:
        pairs = connection.execute(
            "SELECT qa_id, question, indicator_name FROM qa_pairs ORDER BY qa_id"
        ).fetchall()
        for start in range(0, len(pairs), 100_000):
            part = pairs[start : start + 100_000]
            prints = fingerprints([shingles(question, name) for _, question, name in part])
            raw = prints.values.astype("<u4").tobytes()
            connection.executemany(
                "INSERT INTO near_signatures (qa_id, anchors, minhash) VALUES (?, ?, ?)",
                (
                    (qa_id, anchors, raw[item * 128 : (item + 1) * 128])
                    for item, ((qa_id, _, _), anchors) in enumerate(
                        zip(part, prints.anchors.tolist(), strict=True)
                    )
                ),
            )
        connection.commit()
    log(f"neardup: {len(pairs):,} signatures written in {time.perf_counter() - started:.0f} s")


def _queries(root: Path, count: int) -> tuple[list[float], float]:
    """ms per pair: single-pair searches, and per pair in one batch of ``count`` (the index
    loaded by a first search, not timed)."""
    stored = questions(count, seed=18)[: count // 2]  # asked again, in other words
    texts: list[Text] = [(f"In practice, {q.lower()}", "", name) for q, name in stored]
    texts += [(q, "", name) for q, name in questions(count - len(texts), seed=99)]  # new
    with prepared(root) as (settings, db), db.reader() as session:
        detector = Detector.from_settings(settings)
        search(session, detector, [("warm up", "", None)])
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
    return single, batched


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
    rebuilt_pairs, stored = cfg.neardup_rebuilt, cfg.neardup_stored
    _stored_database(work / "rebuilt", rebuilt_pairs)
    log(f"neardup: inboxd dedup --rebuild over {rebuilt_pairs:,} pairs")
    rebuilt = run_measured(
        [str(INBOXD), "dedup", "--rebuild", "--root", str(work / "rebuilt")],
        output=work / "rebuild.out",
        env=child_env(),
    ).check("inboxd dedup --rebuild")
    root = work / "stored"
    _sign(_stored_database(root, stored))
    loaded = _load_in_child(root, work)
    log(f"neardup: {cfg.neardup_queries} single-pair searches against {stored:,} signatures")
    single, batched = _queries(root, cfg.neardup_queries)
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
            f"the index loaded from {loaded.pairs:,} stored signatures, a process of its own "
            f"(arrays {loaded.array_mib:.0f} MiB; peak RSS {loaded.peak_rss_mib:.0f} MiB, "
            f"{loaded.without_mib:.0f} without the index)",
            loaded.seconds,
            "s",
            show_ratio=False,
        ),
        Row(
            "near-duplicates",
            f"inboxd dedup --rebuild over {rebuilt_pairs:,} pairs (peak RSS "
            f"{rebuilt.peak_rss_mib:.0f} MiB)",
            rebuilt.seconds,
            "s",
            show_ratio=False,
            cpu=rebuilt.cpu_seconds,
        ),
    ]


if __name__ == "__main__":  # the child of _load_in_child
    _child(Path(sys.argv[1]), sys.argv[2] == "load")
