"""Command-line options generated from :class:`~pellucid.spec.Param` declarations.

A command declares its own arguments and hand-made options as usual and receives the
generated ones through ``**params``::

    @app.command("patch")
    @handle_errors
    @spec_options(VERBS["patch"].spec.params)
    def patch_cmd(ctx: typer.Context, clean: str = CleanArgument, model: str | None = ModelOption,
                  **params: Any) -> None:
        run_inspect("patch", lm, clean, corrupted, **params)

:func:`spec_options` builds the signature Typer reads (``__signature__``): one ``typer.Option``
per parameter, with the declared flag names, the library's default and the help text (plus
the choices), inserted before the ``model`` option. Values reach the command as the command
line gave them (``--layers 0-5`` stays the string ``"0-5"``): the spec parses and checks them,
so ranges, choices and NaN are refused by the same code as in the API and the library.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import typer

from pellucid.spec import Param

F = TypeVar("F", bound=Callable[..., Any])

#: the Python type Typer parses for each parameter type (a list repeats the flag; layer lists are text)
_TYPES: dict[str, Any] = {
    "int": int, "float": float, "str": str, "bool": bool,
    "int_list": str, "float_list": list[float], "str_list": list[str],
}  # fmt: skip


def flags(param: Param) -> tuple[str, ...]:
    """The option's flag names: declared, or ``--top-k`` from ``top_k`` (``--x/--no-x`` for flags)."""
    if param.cli:
        return param.cli
    flag = "--" + param.name.replace("_", "-")
    return (f"{flag}/--no-{flag[2:]}",) if param.type == "bool" else (flag,)


def cli_help(param: Param) -> str:
    """The help text, with the choices and the range when there are any."""
    extra = []
    if param.choices:
        extra.append(f"Choices: {', '.join(param.choices)}.")
    if param.min is not None or param.max is not None:
        low = "" if param.min is None else f"{param.min:g}"
        high = "" if param.max is None else f"{param.max:g}"
        extra.append(f"Range: {low}..{high}.")
    return " ".join([param.help, *extra])


def annotation(param: Param) -> Any:
    """The Python type Typer parses (``int_list`` is text such as ``"0,3-5,-1"``, parsed by the spec)."""
    base = _TYPES[param.type]
    return base | None if param.nullable else base


def cli_default(param: Param) -> Any:
    """The option's default as Typer holds it (a list for repeated flags, text for layer lists)."""
    if param.required:
        return ...
    if param.default is None:
        return None
    if param.type == "int_list":
        return ",".join(str(v) for v in param.default)
    if param.type.endswith("_list"):
        return list(param.default)
    return param.default


def option(param: Param) -> Any:
    """The ``typer.Option`` of ``param`` (a flag shows no ``<bool>`` type in the help: it takes no value)."""
    metavar = "" if param.type == "bool" else None
    return typer.Option(cli_default(param), *flags(param), help=cli_help(param), metavar=metavar)


def _from_cli(param: Param, value: Any) -> Any:
    if param.type.endswith("_list") and isinstance(value, list | tuple):
        return None if not value and param.default is None else list(value)
    return value


def _generated(param: Param, optional: Mapping[str, str]) -> inspect.Parameter:
    """The command parameter for ``param``; a required one named in ``optional`` may be omitted (``None``)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    if param.required and param.name in optional:
        relaxed = typer.Option(None, *flags(param), help=f"{cli_help(param)} {optional[param.name]}")
        return inspect.Parameter(param.name, kind, default=relaxed, annotation=annotation(param) | None)
    return inspect.Parameter(param.name, kind, default=option(param), annotation=annotation(param))


def spec_options(
    params: Sequence[Param], before: str = "model", optional: Mapping[str, str] | None = None
) -> Callable[[F], F]:
    """Add an option for each of ``params`` (those with ``cli`` not ``None``) to a command.

    The options go before the parameter named ``before`` (else last); the command gets their
    values in ``**params``. ``optional`` names required parameters the command can fill in
    itself (``{name: help text saying when}``): they may be omitted and arrive as ``None``.
    """
    shown = [p for p in params if p.cli is not None]

    def decorate(fn: F) -> F:
        own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
        names = [p.name for p in own]
        at = names.index(before) if before in names else len(own)
        generated = [_generated(p, optional or {}) for p in shown]
        clash = sorted({p.name for p in shown} & set(names))
        if clash:
            raise ValueError(f"{fn.__name__} declares {clash} itself and through its spec; declare them once.")
        by_name = {p.name: p for p in shown}

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            generated_values = {name: _from_cli(p, kwargs.pop(name)) for name, p in by_name.items()}
            return fn(**kwargs, **generated_values)

        parameters = [*own[:at], *generated, *own[at:]]
        wrapper.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        return wrapper  # type: ignore[return-value]

    return decorate
