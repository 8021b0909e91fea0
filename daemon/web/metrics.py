"""``/metrics``: the Prometheus text format, counted from the database at scrape time.

A collector, not counters bumped by the pipeline: the figures are the database's (the same a
page shows; several daemons on one database are counted once), and the pipeline pays
nothing for them. Beside the daemon (``inboxd run --http``) its own figures are added: the
queue, how long a file has waited for the database, what this process handled since start
and how long each import took (``ImportDurations``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, func, select

from daemon.ingest.outcome import FileOutcome
from daemon.status.view import RECENT_FILES
from daemon.store.models import FileRecord
from daemon.web.board import Board

EPOCH = datetime(1970, 1, 1)  # processed_at is naive UTC
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# seconds one file's import took, bucket upper bounds
IMPORT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
FILES_BY_KIND = select(
    FileRecord.agent, FileRecord.kind, FileRecord.outcome, func.count()
).group_by(FileRecord.agent, FileRecord.kind, FileRecord.outcome)


class BoardCollector(Collector):
    """Reads the figures through the dashboard's ``Board`` at each scrape."""

    def __init__(self, board: Board) -> None:
        self.board = board

    def collect(self) -> Iterator[Metric]:
        with self.board.reading() as (connection, tally):
            yield _files(connection)
            pairs = GaugeMetricFamily("inboxd_pairs_stored", "Q&A pairs in the database.")
            pairs.add_metric([], tally.pairs_total)
            yield pairs
            duplicates = GaugeMetricFamily(
                "inboxd_duplicates_skipped",
                "Pairs delivered again and not stored, by agent.",
                labels=["agent"],
            )
            for agent in self.board.settings.agents:
                duplicates.add_metric([agent], tally.file_sums(agent)[1])
            yield duplicates
            yield _last_delivery(connection, self.board.settings.agents)
        yield from self._live()

    def _live(self) -> Iterator[Metric]:
        figures = self.board.live_figures()
        if figures is None:
            return  # the page runs alone: there is no queue to show
        depth = GaugeMetricFamily("inboxd_queue_depth", "Files queued in the running daemon.")
        depth.add_metric([], figures["queue_depth"])
        yield depth
        waiting = GaugeMetricFamily(
            "inboxd_database_waiting_seconds",
            "How long the file waiting longest for the database has waited (0: none).",
        )
        waiting.add_metric([], figures["waiting_seconds"])
        yield waiting
        handled = CounterMetricFamily(
            "inboxd_daemon_files",
            "Files this daemon process handled since it started, by outcome.",
            labels=["outcome"],
        )
        for outcome, count in sorted(figures["counts"].items()):
            handled.add_metric([outcome], count)
        yield handled


def _files(connection: Connection) -> Metric:
    files = GaugeMetricFamily(
        "inboxd_files",
        "Ledger rows by agent, kind and outcome.",
        labels=["agent", "kind", "outcome"],
    )
    for agent, kind, outcome, count in connection.execute(FILES_BY_KIND):
        files.add_metric([agent, kind or "", outcome], count)
    return files


def _last_delivery(connection: Connection, agents: list[str]) -> Metric:
    last = GaugeMetricFamily(
        "inboxd_last_delivery_timestamp_seconds",
        "When each agent's latest file was handled (Unix time).",
        labels=["agent"],
    )
    for agent in agents:
        row = connection.execute(RECENT_FILES, {"agent": agent, "limit": 1}).first()
        if row is not None:
            at = row.processed_at
            last.add_metric([agent], (at - EPOCH).total_seconds())
    return last


class ImportDurations:
    """The import histogram, observed by the running daemon (``Daemon.outcome_observers``):
    the ledger keeps no duration, so a page served alone has none to show."""

    def __init__(self) -> None:
        self.histogram = Histogram(
            "inboxd_import_duration_seconds",
            "How long each imported file took in this daemon, from its read to its commit.",
            buckets=IMPORT_BUCKETS,
            registry=None,
        )

    def observe(self, outcome: FileOutcome) -> None:
        if outcome.outcome == "imported":
            self.histogram.observe(outcome.ms / 1000)


def registry_for(board: Board, durations: ImportDurations | None = None) -> CollectorRegistry:
    """A registry of its own (not the process-wide default): one per dashboard."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BoardCollector(board))
    if durations is not None:
        registry.register(durations.histogram)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
