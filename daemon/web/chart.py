"""Pairs stored over time, as the numbers of an SVG line drawn by the server.

No chart library and nothing fetched: the overview's template draws a polyline from these
points, so the page works offline and under a Content-Security-Policy without inline script.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT = 600, 160  # the SVG's own units; CSS scales it
MARGIN = 4
MAX_POINTS = 300  # more would add weight, not detail, at this width


@dataclass(frozen=True)
class Chart:
    points: str  # "x,y x,y ..." for <polyline points=...>
    area: str  # the same, closed along the bottom, for the filled <polygon>
    first: str  # the first and last times, and the pairs at the end, for the labels
    last: str
    top: int
    width: int = WIDTH
    height: int = HEIGHT


def pairs_chart(series: list[tuple[datetime, int]]) -> Chart | None:
    """The line of cumulative pairs over time; None with fewer than two points."""
    if len(series) < 2:
        return None
    step = max(1, len(series) // MAX_POINTS)
    kept = [*series[::step][: MAX_POINTS - 1], series[-1]]
    start, end = kept[0][0], kept[-1][0]
    span = (end - start).total_seconds() or 1.0
    top = max(count for _, count in kept) or 1
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    xy = [
        (
            MARGIN + inner_w * (at - start).total_seconds() / span,
            MARGIN + inner_h * (1 - count / top),
        )
        for at, count in kept
    ]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    bottom = HEIGHT - MARGIN
    area = f"{xy[0][0]:.1f},{bottom} {points} {xy[-1][0]:.1f},{bottom}"
    return Chart(
        points=points,
        area=area,
        first=f"{start:%Y-%m-%d %H:%M}",
        last=f"{end:%Y-%m-%d %H:%M}",
        top=kept[-1][1],
    )
