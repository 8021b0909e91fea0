"""One error tree. A parser's expected failures are values (``Rejected``), not exceptions."""

from __future__ import annotations


class InboxdError(Exception):
    """Base of every error inboxd raises on purpose."""


class TransientError(InboxdError):
    """May pass on its own (database busy or away): the file stays pending, never rejected."""


class ConfigError(InboxdError):
    """The configuration cannot work; the message says what to change."""
