"""watchdog's inotify observer, tuned for deliveries: attribute changes, and moves in.

Two things differ from watchdog's (7.1) own emitter:

- It asks the kernel for attribute changes (chmod, chown): a delivery the daemon may not read
  waits until its mode or owner changes, and only an IN_ATTRIB event says so at once.
- A file moved in from outside the watched folder is reported as a move whose source is
  empty (watchdog's own convention for an unmatched move, ``InotifyFullEmitter``), not as
  "created". A rename is atomic: the file arrives whole, so it is taken at once, while a
  created file must wait until it settles. watchdog does not hold such an IN_MOVED_TO (it
  delays only an IN_MOVED_FROM, to pair it); it reports it as "created" at once, and only
  the daemon's settle window (0.5 s by default) made it late.

Pairing is untouched: an IN_MOVED_TO whose IN_MOVED_FROM is in the same watch is still one
move (from, to), since the kernel queues the IN_MOVED_FROM first and watchdog pairs the two
when the IN_MOVED_TO comes in. An unpaired IN_MOVED_FROM is still "deleted", after
watchdog's pairing window. Linux only: importing this module elsewhere raises ImportError.
"""

from __future__ import annotations

from watchdog.events import FileMovedEvent
from watchdog.observers.inotify import InotifyEmitter, InotifyObserver
from watchdog.observers.inotify_c import InotifyConstants, Mask
from watchdog.observers.inotify_move_event_grouper import GroupedInotifyEvent, PathedInotifyEvent

# the source of a file moved in from outside the watch: watchdog's mark for "unknown"
MOVED_IN_FROM_OUTSIDE = ""


class AttribInotifyEmitter(InotifyEmitter):
    """Asks for attribute changes too, and reports a file moved in from outside as a move."""

    def get_event_mask_from_filter(self) -> Mask:
        """watchdog adds IN_ATTRIB to a watch's mask only with FileModifiedEvent, which would
        also bring an IN_MODIFY per write call."""
        return Mask(super().get_event_mask_from_filter() | InotifyConstants.IN_ATTRIB)

    def build_and_queue_event(
        self, event: GroupedInotifyEvent, *, full_events: bool = False
    ) -> None:
        """An unpaired IN_MOVED_TO of a file: a move from outside (``src_path`` empty), which
        the handler takes as an arrival. Folders keep watchdog's "created" (with an event per
        file inside); every other event is watchdog's own."""
        if (
            isinstance(event, PathedInotifyEvent)
            and event.ev.is_moved_to
            and not event.ev.is_directory
        ):
            self.queue_event(FileMovedEvent(MOVED_IN_FROM_OUTSIDE, self._decode_path(event.path)))
            return
        super().build_and_queue_event(event, full_events=full_events)


class AttribInotifyObserver(InotifyObserver):
    """watchdog's inotify observer with ``AttribInotifyEmitter`` emitters."""

    def __init__(self) -> None:
        super().__init__()
        self._emitter_class = AttribInotifyEmitter
