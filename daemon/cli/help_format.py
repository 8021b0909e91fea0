"""Help output: a flag is shown without a type; and ``--help`` costs no validator.

Typer shows a type after every option, flags included (``--help <bool>``, ``--dry-run
<bool>``), though a flag takes no value. This group clears the type of every boolean flag of
itself and of each command it hands a command line to (their ``--help`` too, which typer
adds itself), before the help is drawn.

Typer passes a flag's value on as it is when it is a bool, and otherwise builds a pydantic
validator for it first. The ``--help`` it adds has no default: when not given, its value is
None, and every command line (``inboxd dataset --help`` too) imported pydantic to pass that
None on. Here its value when absent is False, which its callback takes as None: no help asked.
"""

from __future__ import annotations

from typer import _click
from typer.core import TyperGroup, TyperOption


class FlagsWithoutType(TyperGroup):
    """``typer.Typer(cls=FlagsWithoutType)``: the app's group."""

    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        option = super().get_help_option(ctx)
        _absent_is_false(option)
        for param in [*self.params, option]:  # the app's own options (its callback's)
            _untyped(param)
        return option

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            help_option = command.get_help_option(ctx)
            _absent_is_false(help_option)
            for param in [*command.params, help_option]:
                _untyped(param)
        return command


def _untyped(param: object) -> None:
    if isinstance(param, TyperOption) and param.is_bool_flag:
        param.metavar = ""  # shown as the type column; empty: nothing shown


def _absent_is_false(help_option: object) -> None:
    if isinstance(help_option, TyperOption) and help_option.default is None:
        help_option.default = False
