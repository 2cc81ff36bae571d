"""The Typer application class every ``pellucid`` command group is built with.

Typer renders each option's type next to its name in ``--help`` (``--top <int>``). A flag takes no
value, yet Typer labels it ``<bool>``, which reads as if ``--json true`` were expected. Commands and
groups built by :class:`App` give every flag, Typer's own ``--help`` included, an empty label.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


class _PlainHelpOption:
    """Mixin: the command's flags and help option show no type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:  # type: ignore[attr-defined]
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


class Command(_PlainHelpOption, TyperCommand):
    """A Typer command whose flags show no type."""


class Group(_PlainHelpOption, TyperGroup):
    """A Typer group whose flags show no type."""


class App(typer.Typer):
    """``typer.Typer`` whose commands and groups default to :class:`Command` and :class:`Group`."""

    def __init__(self, *, cls: type[TyperGroup] | None = None, **kwargs: Any) -> None:
        super().__init__(cls=cls or Group, **kwargs)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or Command, **kwargs)
