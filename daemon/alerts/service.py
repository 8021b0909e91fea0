"""The alerts of one running daemon: started and stopped with it, and nothing more to wire.

``Alerts.start`` claims the run marker (and logs ``daemon.unclean_stop`` for a run that
ended without a warm stop), and, when ``notify_urls`` names a service, listens to the log,
starts the sender and the watch. The listener runs in the thread that logs: it looks the
event up, counts an alert into the outbox, and returns.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from daemon.alerts.delivery import Channel, Sender
from daemon.alerts.events import alert_for
from daemon.alerts.marker import RunMarker
from daemon.alerts.outbox import Outbox
from daemon.alerts.watch import Watch
from daemon.config import Settings
from daemon.logging import add_listener, get_logger, remove_listener
from daemon.store.engine import Database

log = get_logger("inboxd.alerts")


class Alerts:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        run_dir = settings.var_dir / "run"
        self.marker = RunMarker(run_dir)
        self.events = frozenset(settings.notify_events)
        self.outbox: Outbox | None = None
        self.sender: Sender | None = None
        self.watch: Watch | None = None
        if settings.notify_urls and self.events:
            self.outbox = Outbox(
                group_seconds=settings.notify_group_seconds,
                min_interval=settings.notify_min_interval,
                examples=settings.notify_examples,
                footer=f"inboxd on {socket.gethostname()}, root {settings.root_path}",
            )
            self.sender = Sender(
                self.outbox,
                Channel(settings.notify_urls),
                attempts=settings.notify_retries,
                longest_wait=settings.notify_retry_max_seconds,
            )
            self.watch = Watch(settings, db, run_dir / "alerts.json")

    def start(self) -> None:
        if self.sender is not None and self.watch is not None:
            add_listener(self._on_event)
            self.sender.start()
            self.watch.start()
            log.info(
                "alert.listening", services=self.sender.channel.names, events=sorted(self.events)
            )
        try:
            ended = self.marker.claim()
        except OSError as exc:  # var/ not writable: the daemon runs on, without the marker
            log.warning("daemon.marker_failed", folder=str(self.marker.folder), error=str(exc))
            return
        for previous in ended:
            log.warning(
                "daemon.unclean_stop",
                previous_pid=previous.get("pid"),
                previous_start=previous.get("started_at"),
            )

    def stop(self) -> None:
        """After the worker stopped: the last alerts get one attempt, then the marker goes."""
        if self.watch is not None:
            self.watch.stop()
        if self.sender is not None:
            remove_listener(self._on_event)
            self.sender.stop()
        self.marker.release()

    def _on_event(self, event: Mapping[str, Any]) -> None:
        if self.watch is not None:
            self.watch.observe(event)
        alert = alert_for(event)
        if alert is not None and alert.kind in self.events and self.outbox is not None:
            self.outbox.add(alert)
