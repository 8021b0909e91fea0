"""The burst of two checkouts in turns: which of two versions of inboxd takes it faster.

    python -m bench.ab_burst 4 new=/path/to/checkout old=/path/to/other/checkout

Each round runs ``bench.burst``'s 1,000-file burst into ``inboxd run`` once per checkout (its
code put first on the daemon's ``PYTHONPATH``), so both meet the same load; medians at the
end. Used for docs/performance.md's "Group commit, second round".
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from bench import burst
from bench.common import child_env


def main(argv: list[str]) -> int:
    rounds = int(argv[0])
    trees = dict(arg.split("=", 1) for arg in argv[1:])
    rates: dict[str, list[float]] = {name: [] for name in trees}
    files = burst.burst_files(1_000)
    for _ in range(rounds):
        for name, tree in trees.items():
            env = child_env(PYTHONPATH=tree)
            with tempfile.TemporaryDirectory() as tmp:
                root = burst.fresh_root(Path(tmp) / "root")
                seconds, _dropped, errors = burst.daemon_burst(root, files, env=env)
            rates[name].append(len(files) / seconds)
            print(f"{name}: {rates[name][-1]:.1f} files/s{' ERRORS' if errors else ''}", flush=True)
    for name, values in rates.items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name}: median {statistics.median(values):.1f} files/s ({runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
