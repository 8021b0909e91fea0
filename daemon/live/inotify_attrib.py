"""watchdog's inotify observer asking the kernel for attribute changes (chmod, chown) too.

A delivery the daemon may not read waits until its mode or owner changes; only an IN_ATTRIB
event says so at once. Linux only: importing this module elsewhere raises ImportError.
"""

from __future__ import annotations

from watchdog.observers.inotify import InotifyEmitter, InotifyObserver
from watchdog.observers.inotify_c import InotifyConstants, Mask


class AttribInotifyEmitter(InotifyEmitter):
    """Asks the kernel for attribute changes too: watchdog (7.1) adds IN_ATTRIB to a watch's
    mask only with FileModifiedEvent, which would also bring an IN_MODIFY per write call."""

    def get_event_mask_from_filter(self) -> Mask:
        return Mask(super().get_event_mask_from_filter() | InotifyConstants.IN_ATTRIB)


class AttribInotifyObserver(InotifyObserver):
    """watchdog's inotify observer, its emitters asking for attribute changes too."""

    def __init__(self) -> None:
        super().__init__()
        self._emitter_class = AttribInotifyEmitter
