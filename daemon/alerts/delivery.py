"""Sending a message through apprise, on a thread of its own, retried a bounded number of times.

The sender is the only thread that waits on the network: an unreachable or hung service
delays the next message, never an import. A failed attempt is logged (``alert.failed``) and
tried again after a growing wait (1 s, 2 s, 4 s ... up to ``notify_retry_max_seconds``);
after ``notify_retries`` attempts the message is dropped, and that is logged
(``alert.dropped``) with how many alerts it carried. Alerts that come meanwhile wait in the
outbox, grouped. A message is sent as plain text: apprise escapes it for a service that
reads Markdown or HTML (Telegram, Slack), so a file name cannot turn into layout.

apprise runs offline here: no plugin is loaded from outside its package, its persistent
store stays in memory (nothing written outside the root) and no image URL is put into a
payload.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_result,
    stop_after_attempt,
    stop_any,
    stop_when_event_set,
    wait_exponential,
)

from daemon.alerts.outbox import Message, Outbox
from daemon.logging import get_logger

if TYPE_CHECKING:  # apprise is imported only when notifications are configured
    import apprise

log = get_logger("inboxd.alerts")

STOP_GRACE_SECONDS = 5.0  # at stop: what is pending gets one attempt, this long at most


def _asset() -> apprise.AppriseAsset:
    import apprise

    return apprise.AppriseAsset(
        app_id="inboxd",
        app_desc="inboxd notifications",
        image_url_mask="",  # no image URL in a payload: the service would fetch it
        image_url_logo="",
        storage_mode="memory",  # apprise's cache: nothing written outside the root
    )


def unknown_urls(urls: Sequence[str]) -> list[str]:
    """The URLs apprise cannot use, each named by its place and scheme (not its token)."""
    import apprise

    asset = _asset()
    return [
        f"item {number} ({url.partition('://')[0] or url[:8]}://...)"
        for number, url in enumerate(urls, 1)
        if apprise.Apprise.instantiate(url, asset=asset) is None
    ]


class Channel:
    """The services every message goes to (``notify_urls``)."""

    def __init__(self, urls: Sequence[str]) -> None:
        import apprise

        self._apprise = apprise.Apprise(asset=_asset())
        for url in urls:
            self._apprise.add(url)
        # shown in the log: tokens and passwords masked
        self.names = [_masked(server) for server in self._apprise]

    def send(self, message: Message) -> bool:
        """One attempt; True when every service took the message."""
        import apprise

        return bool(
            self._apprise.notify(
                body=message.body,
                title=message.title,
                notify_type=apprise.NotifyType.FAILURE
                if message.problem
                else apprise.NotifyType.INFO,
                body_format=apprise.NotifyFormat.TEXT,
            )
        )


def _masked(server: Any) -> str:
    """A service's URL as apprise shows it with its secrets masked (``tgram://1...f/``)."""
    return str(server.url(privacy=True))


class Sender:
    """The thread that takes messages from the outbox and sends them."""

    def __init__(
        self, outbox: Outbox, channel: Channel, *, attempts: int, longest_wait: float
    ) -> None:
        self.outbox = outbox
        self.channel = channel
        self.attempts = attempts
        self.longest_wait = longest_wait
        self.sent = 0  # messages delivered (tests wait on the receiver, not on this)
        self.dropped = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inboxd-alerts-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """No more retries; what is pending gets one attempt, within ``timeout``. A send that
        hangs is left to its thread (a daemon thread: it ends with the process)."""
        self._stopping.set()
        self.outbox.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("alert.stop_abandoned", pending=self.outbox.pending())

    def _run(self) -> None:
        while True:
            message = self.outbox.take(self._stopping)
            if message is None:
                return
            try:
                self._deliver(message)
            except Exception:  # a bug in a plugin must not end the thread
                self.dropped += 1
                log.exception("alert.dropped", alerts=message.alerts, title=message.title)

    def _deliver(self, message: Message) -> None:
        retrying = Retrying(
            stop=stop_any(stop_after_attempt(self.attempts), stop_when_event_set(self._stopping)),
            wait=wait_exponential(multiplier=1, max=self.longest_wait),
            retry=retry_if_result(lambda ok: not ok),
            sleep=self._sleep,
            before_sleep=self._failed,
            retry_error_callback=lambda state: False,
            reraise=False,
        )
        if retrying(self.channel.send, message):
            self.sent += 1
            log.info("alert.sent", alerts=message.alerts, title=message.title)
        else:
            self.dropped += 1
            log.error(
                "alert.dropped",
                alerts=message.alerts,
                title=message.title,
                attempts=self.attempts,
                services=self.channel.names,
            )

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)  # a stop ends the wait (and the retries)

    def _failed(self, state: RetryCallState) -> None:
        wait: Any = state.next_action.sleep if state.next_action else None
        log.warning(
            "alert.failed",
            attempt=state.attempt_number,
            of=self.attempts,
            retry_in_s=round(wait, 1) if wait is not None else None,
            services=self.channel.names,
        )
