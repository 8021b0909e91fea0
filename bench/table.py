"""The one table: scenario, measure, inboxd, baseline, ratio, target, met."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.common import Row


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "files/s":
        return f"{value:,.1f} files/s"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    if unit == "pairs":
        return f"{value:,.0f}"
    return f"{value:g} {unit}".strip()


def render(rows: list[Row], notes: list[str], width: int = 172) -> str:
    table = Table(
        box=box.SIMPLE_HEAVY,
        show_lines=True,
        title="inboxd benchmarks (issue 6)",
        title_justify="left",
    )
    table.add_column("scenario", no_wrap=True)
    table.add_column("measure", ratio=3, min_width=60)
    table.add_column("inboxd", justify="right", no_wrap=True)
    table.add_column("baseline", justify="right", ratio=1)
    table.add_column("ratio", justify="right", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("met", no_wrap=True)
    for row in rows:
        ratio = row.ratio
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[row.met]
        baseline = fmt(row.baseline, row.unit)
        if row.baseline_label:
            baseline += f"\n[dim]{escape(row.baseline_label)}[/]"
        lines = [row.note] if row.note else []
        if row.cpu is not None and row.baseline_cpu:
            lines.insert(
                0,
                f"CPU time: inboxd {fmt(row.cpu, 's')}, baseline "
                f"{fmt(row.baseline_cpu, 's')} ({row.cpu / row.baseline_cpu:.2f}x)",
            )
        elif row.cpu is not None:
            lines.insert(0, f"CPU time: {fmt(row.cpu, 's')}")
        measure = escape(row.measure) + "".join(f"\n[dim]{escape(n)}[/]" for n in lines)
        table.add_row(
            row.scenario,
            measure,
            fmt(row.inboxd, row.unit),
            baseline,
            f"{ratio:.2f}x" if ratio is not None else "—",
            row.target or "—",
            met,
        )
    console = Console(width=width, record=True, force_terminal=False, color_system=None)
    with console.capture() as capture:
        console.print(table)
        for note in notes:
            console.print(f"  {note}")
    return capture.get()
