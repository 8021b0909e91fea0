"""The answers' analysis flags of two checkouts in turns, in this process: which is faster.

    python -m bench.ab_analysis 15 new=/path/to/checkout old=/path/to/other/checkout

Each checkout's ``daemon/ingest/analysis.py`` is loaded from its file, checked against the
reference regexes on every answer, then timed over the bench export's 12,480 answers (~2,750
characters, with the telling phrases) and over 500 burst files of 20 answers (~1,000
characters), each version once a round so both meet the same load. Figures are the best CPU
time (``time.process_time``) of the rounds. Used for docs/performance.md's "Analysis flags,
Hyperscan".
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from bench.datagen import answer_pool, export_document, with_telling_phrases

FILES, PAIRS_PER_FILE = 500, 20  # as bench.burst's files


def load(name: str, tree: str) -> ModuleType:
    """One checkout's analysis module, under a name of its own."""
    spec = importlib.util.spec_from_file_location(
        f"_ab_analysis_{name}", f"{tree}/daemon/ingest/analysis.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def flags(analysis: Any) -> tuple[int, bool, bool, bool, bool]:
    return (
        analysis.answer_length,
        analysis.has_formula,
        analysis.has_examples,
        analysis.has_sources,
        analysis.crypto_specific,
    )


def cpu_seconds(analyse: Callable[[str], Any], answers: Iterable[str]) -> float:
    started = time.process_time()
    for answer in answers:
        analyse(answer)
    return time.process_time() - started


def main(argv: list[str]) -> int:
    rounds = int(argv[0])
    modules = {name: load(name, tree) for name, tree in (a.split("=", 1) for a in argv[1:])}
    document = with_telling_phrases(
        export_document(sessions=126, pairs=12_480, answer_length=2_750)
    )
    export = [pair["answer"] for session in document["sessions"] for pair in session["qa_pairs"]]
    pool = answer_pool(257, 1_000, seed=5)
    burst = [
        pool[(i * PAIRS_PER_FILE + j) % len(pool)]
        for i in range(FILES)
        for j in range(PAIRS_PER_FILE)
    ]
    for name, module in modules.items():
        wrong = [
            a
            for a in export + pool
            if flags(module.analyse_answer(a)) != flags(module.analyse_answer_by_regex(a))
        ]
        if wrong:
            raise SystemExit(f"{name}: {len(wrong)} answers differ from the regexes")
    best = {(name, part): float("inf") for name in modules for part in ("export", "burst")}
    for _ in range(rounds):
        for name, module in modules.items():
            best[name, "export"] = min(
                best[name, "export"], cpu_seconds(module.analyse_answer, export)
            )
            best[name, "burst"] = min(
                best[name, "burst"], cpu_seconds(module.analyse_answer, burst)
            )
    for name in modules:
        print(
            f"{name}: export, {len(export):,} answers: {best[name, 'export']:.3f} s;"
            f" a {PAIRS_PER_FILE}-answer file: {best[name, 'burst'] / FILES * 1e6:.0f} µs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
