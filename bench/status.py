"""Scenario 8 (issue 16): the status write at a million stored pairs, and ``inboxd status``.

The database is filled directly (``fill_stored_pairs``: 1,000,000 pairs, ~200-char answers,
a quarter refined), then the demo's session plans are imported, so the views have sessions
to cover. In this process: each run imports one new 20-pair file (``Pipeline.process``, not
timed) and times ``StatusWriter.write`` for its agent and the orchestrator, what the daemon
does after a file; the baseline is the same write with the tally counted afresh (what each
write would cost without the running tally; the writer's minute recount runs off its path).
As whole processes, taken in turns: ``inboxd status`` on current status files against
``inboxd status --fresh`` (the database read through SQLAlchemy, as before), on the demo
tree and at a million pairs, with ``python -c pass`` for the interpreter's own start.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    INBOXD,
    PYTHON,
    Config,
    Measured,
    Row,
    child_env,
    log,
    make_root,
    median,
    run_measured,
)
from bench.datagen import answer_pool, fill_stored_pairs, small_qa_document
from bench.inproc import prepared
from daemon.cli.demo import DEMO_FILES
from daemon.ingest.pipeline import Pipeline
from daemon.status.tally import StoredTally
from daemon.status.writer import StatusWriter

WRITE_TARGET_SECONDS = 0.1
COMMAND_TARGET_SECONDS = 0.35
ANSWER_LENGTH = 200  # the status reads no answer: short ones make the database quicker


def build(root: Path, pairs: int) -> None:
    """A root whose database holds ``pairs`` pairs and the demo's session plans, with every
    agent's status written (current)."""
    make_root(root)
    with prepared(root) as (settings, db):
        path = settings.var_dir / "inboxd.db"
    started = time.perf_counter()
    fill_stored_pairs(path, pairs, answer_length=ANSWER_LENGTH)
    log(
        f"status: {pairs:,} pairs stored in {time.perf_counter() - started:.1f} s "
        f"({path.stat().st_size / 1e6:,.0f} MB)"
    )
    with prepared(root) as (settings, db):
        pipeline = Pipeline(settings, db)
        for plan in sorted((DEMO_FILES / "inbox" / "droid").glob("*.md")):
            target = root / "inbox" / "droid" / plan.name
            target.write_bytes(plan.read_bytes())
            pipeline.process(target)


Timed = tuple[list[float], list[float]]  # wall seconds, CPU seconds of this thread


def refresh_times(root: Path, runs: int) -> tuple[Timed, Timed]:
    """Seconds of ``StatusWriter.write`` for droid and the orchestrator after one new file:
    with the writer's running tally, and with a tally counted afresh (the baseline)."""
    pool = answer_pool(16, 300, seed=5)
    running: Timed = ([], [])
    recounted: Timed = ([], [])
    with prepared(root) as (settings, db):
        writer = StatusWriter(settings, db)
        writer.write_all()  # the first write counts everything, as a daemon's start does
        pipeline = Pipeline(settings, db)
        agents = ["droid", settings.orchestrator]
        for i in range(runs):
            for times, fresh in ((running, False), (recounted, True)):
                name = f"status_bench_{i:03d}_{'fresh' if fresh else 'running'}.json"
                new = root / "outbox" / "droid" / name
                new.write_bytes(orjson.dumps(small_qa_document(i, pool=pool, tag=name)))
                if pipeline.process(new).outcome != "imported":
                    raise RuntimeError(f"status bench: {new} not imported")
                if fresh:
                    writer.tally = StoredTally()
                started, cpu = time.perf_counter(), time.thread_time()
                writer.write(agents)
                times[0].append(time.perf_counter() - started)
                times[1].append(time.thread_time() - cpu)
        writer.write_all()  # every agent current again, for the command's runs
    return running, recounted


def command_times(root: Path, runs: int, work: Path) -> dict[str, list[Measured]]:
    """``inboxd status`` (current files), ``inboxd status --fresh`` and ``python -c pass``,
    taken in turns."""
    commands = {
        "current": [str(INBOXD), "status", "--root", str(root)],
        "fresh": [str(INBOXD), "status", "--fresh", "--root", str(root)],
        "python": [PYTHON, "-c", "pass"],
    }
    found: dict[str, list[Measured]] = {name: [] for name in commands}
    for i in range(runs):
        for name, cmd in commands.items():
            output = work / f"{root.name}-{name}-{i}.out"
            found[name].append(run_measured(cmd, output=output, env=child_env()).check(name))
    if found["current"][0].output.read_bytes().count(b"# inboxd status:") != 3:
        raise RuntimeError(f"status bench: {found['current'][0].output} shows no status")
    return found


def demo_root(work: Path) -> Path:
    """``inboxd demo`` then ``inboxd scan``, as children: the tree of the issue's figure."""
    root = work / "demo"
    for args in (["demo"], ["scan"]):
        done = run_measured(
            [str(INBOXD), *args, "--root", str(root)], output=work / f"demo-{args[0]}.out"
        )
        if done.returncode not in (0, 3):  # scan: 3, the demo's bad files are rejected
            raise RuntimeError(f"inboxd {args[0]} exited {done.returncode}")
    return root


def command_row(label: str, found: dict[str, list[Measured]], target: bool) -> Row:
    current = [m.seconds for m in found["current"]]
    fresh = [m.seconds for m in found["fresh"]]
    python = median([m.seconds for m in found["python"]])
    return Row(
        "status",
        f"`inboxd status`, {label}, status files current, vs `inboxd status --fresh` (the "
        f"database read through SQLAlchemy) [median of {len(current)}, in turns]",
        median(current),
        "s",
        median(fresh),
        "inboxd status --fresh",
        f"≤ {COMMAND_TARGET_SECONDS} s" if target else "—",
        median(current) <= COMMAND_TARGET_SECONDS if target else None,
        note=f"`python -c pass`: {python * 1000:.0f} ms",
        cpu=median([m.cpu_seconds for m in found["current"]]),
        baseline_cpu=median([m.cpu_seconds for m in found["fresh"]]),
        samples=current,
        baseline_samples=fresh,
    )


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    work = cfg.work / "status"
    work.mkdir(parents=True, exist_ok=True)
    demo = demo_root(work)
    demo_runs = command_times(demo, cfg.status_command_runs, work)
    root = work / "root"
    build(root, cfg.status_pairs)
    (running, running_cpu), (recounted, recounted_cpu) = refresh_times(root, cfg.status_write_runs)
    log(
        f"status: write {median(running) * 1000:.1f} ms, recounted "
        f"{median(recounted) * 1000:.1f} ms"
    )
    large_runs = command_times(root, cfg.status_command_runs, work)
    pairs = f"{cfg.status_pairs:,} pairs"
    shared["status"] = {"pairs": cfg.status_pairs, "write": running, "recounted": recounted}
    return [
        Row(
            "status",
            f"status write after one new file (droid and the orchestrator), {pairs}, vs the "
            f"same write with the tally counted afresh [median of {len(running)}]",
            median(running),
            "s",
            median(recounted),
            "tally counted afresh",
            f"< {WRITE_TARGET_SECONDS * 1000:.0f} ms",
            median(running) < WRITE_TARGET_SECONDS,
            note=f"slowest {max(running) * 1000:.1f} ms",
            cpu=median(running_cpu),
            baseline_cpu=median(recounted_cpu),
            samples=running,
            baseline_samples=recounted,
        ),
        command_row("the demo tree", demo_runs, target=True),
        command_row(pairs, large_runs, target=False),
    ]
