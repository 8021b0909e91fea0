"""One error tree. A parser's expected failures are values (``Rejected``), not exceptions.

Every error here is something a person can act on: the command line prints its message as
one ``error: ...`` line and exits with its ``exit_code`` (docs/errors.md lists them).
"""

from __future__ import annotations

from typing import ClassVar

EXIT_FAILED = 1  # an operation was tried and failed
EXIT_USAGE = 2  # the command line or the configuration is wrong: nothing was tried


class InboxdError(Exception):
    """Base of every error inboxd raises on purpose."""

    exit_code: ClassVar[int] = EXIT_FAILED


class TransientError(InboxdError):
    """May pass on its own (database busy or away): the file stays pending, never rejected."""


class ConfigError(InboxdError):
    """The configuration cannot work; the message says what to change."""

    exit_code: ClassVar[int] = EXIT_USAGE


class UsageError(InboxdError):
    """A command given what it cannot act on (a missing file, an unknown agent)."""

    exit_code: ClassVar[int] = EXIT_USAGE
