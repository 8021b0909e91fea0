"""What ``inboxd process`` shows a person: a progress bar on a terminal, and the export report.

Off a terminal there is no bar: only the log lines.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ProgressHook = Callable[[int, int], None]


@contextmanager
def progress_reporter(label: str = "importing pairs") -> Iterator[ProgressHook | None]:
    """A (done, total) callback drawing a bar when stdout is a terminal, else None."""
    if not sys.stdout.isatty():
        yield None
        return
    # here, not at the top: off a terminal (an agent's call, a script) rich.progress is not needed
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("pairs", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def render_comparison(report: dict[str, Any]) -> str:
    """The export comparison as a few readable lines."""
    s, q, a, p = (
        report["sessions"],
        report["questions"],
        report["answers_on_overlap"],
        report["projected"],
    )
    mismatches = (
        "; ".join(
            f"session {m['session']}: export {', '.join(m['export'])} vs database "
            f"{', '.join(m['database'])}"
            for m in s["topic_mismatches"]
        )
        or "none"
    )
    return "\n".join(
        [
            f"  sessions: {s['in_export']} in the export; "
            f"{len(s['in_both'])} also in the database, "
            f"{len(s['only_in_export'])} only in the export, {len(s['only_in_database'])} only "
            "in the database",
            f"  topic mismatches: {mismatches}",
            f"  questions: {q['delivered']} delivered, {q['unique_in_export']} unique, "
            f"{q['already_stored']} already stored, {q['new']} new",
            f"  answers on the overlap: export mean {a['mean_length_export']} vs database mean "
            f"{a['mean_length_database']} characters; "
            f"{a['longer_in_export']} longer in the export; "
            f"prefer-longer would replace {a['prefer_longer_would_replace']} "
            f"(policy now: {a['policy']})",
            f"  projected pairs: {p['pairs_now']} -> {p['pairs_after']}",
        ]
    )
