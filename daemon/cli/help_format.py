"""Help output: a flag is shown without a type.

Typer shows a type after every option, flags included (``--help <bool>``, ``--dry-run
<bool>``), though a flag takes no value. This group clears the type of every boolean flag of
itself and of each command it hands a command line to (their ``--help`` too, which typer
adds itself), before the help is drawn.
"""

from __future__ import annotations

from typer import _click
from typer.core import TyperGroup, TyperOption


class FlagsWithoutType(TyperGroup):
    """``typer.Typer(cls=FlagsWithoutType)``: the app's group."""

    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        option = super().get_help_option(ctx)
        for param in [*self.params, option]:  # the app's own options (its callback's)
            _untyped(param)
        return option

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            for param in [*command.params, command.get_help_option(ctx)]:
                _untyped(param)
        return command


def _untyped(param: object) -> None:
    if isinstance(param, TyperOption) and param.is_bool_flag:
        param.metavar = ""  # shown as the type column; empty: nothing shown
