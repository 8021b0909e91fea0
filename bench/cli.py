"""Scenario: the command line's start, ``inboxd --help`` against ``python -c pass``.

Both are children of this process run the same way (``run_measured``: the same environment,
output to a file), taken in turns after one untimed run of each (bytecode written). The
baseline is the interpreter's own start, the floor under any Python command.
"""

from __future__ import annotations

from typing import Any

from bench.common import INBOXD, PYTHON, Config, Row, log, median, run_measured

HELP_TARGET_S = 0.2  # issue 16


def run(cfg: Config, shared: dict[str, Any]) -> list[Row]:
    work = cfg.work / "cli"
    work.mkdir(parents=True, exist_ok=True)
    commands = {"help": [str(INBOXD), "--help"], "pass": [PYTHON, "-c", "pass"]}
    for name, cmd in commands.items():
        run_measured(cmd, output=work / f"warm-{name}.out").check(" ".join(cmd))
    log(f"cli: inboxd --help and python -c pass x{cfg.cli_runs}, in turns")
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(cfg.cli_runs):
        for name, cmd in commands.items():
            measured = run_measured(cmd, output=work / f"{name}-{i}.out").check(" ".join(cmd))
            seconds[name].append(measured.seconds)
            cpu[name].append(measured.cpu_seconds)
    shared["cli"] = seconds
    helped = median(seconds["help"])
    return [
        Row(
            "cli",
            f"inboxd --help, whole process vs python -c pass [median of {cfg.cli_runs}, in turns]",
            helped,
            "s",
            median(seconds["pass"]),
            "python -c pass",
            f"≤ {HELP_TARGET_S} s",
            helped <= HELP_TARGET_S,
            cpu=median(cpu["help"]),
            baseline_cpu=median(cpu["pass"]),
            samples=seconds["help"],
            baseline_samples=seconds["pass"],
        )
    ]
