"""The command line's one error path: every error a person can act on is one line.

A command ends in ``error: <what is wrong and what to do>`` on stderr and an exit code: 2 for
usage and configuration (nothing was tried), 1 for an operation that failed. The traceback
is printed above that line only with ``--debug`` or ``INBOXD_DEBUG=1``. An exception that is
none of these is a bug, and crashes as before (a traceback, or ``process.crashed`` in the log).
Every error a user can get is listed in docs/errors.md.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeGuard

import typer

from daemon.errors import EXIT_FAILED, EXIT_USAGE, InboxdError
from daemon.status.escaping import visible

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

EXIT_OK = 0

# click's exceptions, wherever this typer keeps click (a dependency, or vendored): reached
# through typer's public BadParameter, whose bases they are
_CLICK_USAGE_ERROR: type[Exception] = typer.BadParameter.__mro__[1]
_CLICK_EXCEPTION: type[Exception] = typer.BadParameter.__mro__[2]

_debug_flag = False


def show_tracebacks() -> None:
    """``inboxd --debug``: an error prints its traceback above its one line."""
    global _debug_flag
    _debug_flag = True


def debugging() -> bool:
    """``--debug`` or ``INBOXD_DEBUG=1``."""
    from daemon.config import debug_requested  # pydantic: not for `inboxd --help`

    return _debug_flag or debug_requested()


def run(app: typer.Typer, args: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code; an error is said in one line."""
    global _debug_flag
    _debug_flag = False
    try:
        code = app(args, standalone_mode=False)  # typer.Exit comes back as its code
    except SystemExit as exc:  # a command's own sys.exit
        if isinstance(exc.code, str):  # sys.exit("message"): said as every error is
            print(f"error: {visible(exc.code)}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        return exc.code or EXIT_OK
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `inboxd`: the help is printed
            return EXIT_USAGE
        said = _said(exc)
        if said is None:
            raise  # a bug: its traceback is the report
        message, exit_code = said
        if debugging():
            traceback.print_exception(exc)
        sys.stdout.flush()
        print(f"error: {visible(message)}", file=sys.stderr, flush=True)
        return exit_code
    return int(code or EXIT_OK)


def _said(exc: Exception) -> tuple[str, int] | None:
    """What to tell the user about ``exc`` and the exit code, or None for a bug."""
    if isinstance(exc, InboxdError):
        return str(exc), exc.exit_code
    if isinstance(exc, _CLICK_EXCEPTION):
        return _usage(exc), int(getattr(exc, "exit_code", EXIT_USAGE))
    if isinstance(exc, typer.Abort):
        return "aborted", EXIT_FAILED
    if _is_database_error(exc):
        return f"the database failed: {one_line(str(exc.orig))}", EXIT_FAILED
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}", EXIT_FAILED
    return None


def _is_database_error(exc: Exception) -> TypeGuard[DBAPIError]:
    """A driver's error, as SQLAlchemy raises it. Asked of the module only when it is loaded:
    when it is not, nothing could have raised one, and a usage error need not import it."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    return sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.DBAPIError)


def _usage(exc: Exception) -> str:
    """click's complaint about the command line, and where its help is."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    context = getattr(exc, "ctx", None)
    if isinstance(exc, _CLICK_USAGE_ERROR) and context is not None:
        return f"{message} (see '{context.command_path} --help')"
    return str(message)


def one_line(text: str) -> str:
    """A library's multi-line message (a driver's, a server's) as one line."""
    return " ".join(text.split())
