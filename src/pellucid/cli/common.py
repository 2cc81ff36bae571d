"""Helpers every subcommand shares: settings, model loading with a spinner, JSON output, errors.

Subcommands stay thin: parse options, call one function from :mod:`pellucid.service` (or, for
verbs that only read the store, from :mod:`pellucid.monitor`), and render the result with these
helpers. Models are loaded through the service, never here.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from pellucid.errors import PellucidError
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.models import LM
    from pellucid.monitor import Store
    from pellucid.service import ModelPool

console = Console()
err_console = Console(stderr=True)

#: Width of output that is not a terminal (a pipe, a file): wide enough that no value is cut or wrapped.
PIPE_WIDTH = 10_000


def fit_output() -> None:
    """Never cut output that is not a terminal: ``pellucid models | grep ...`` sees whole values.

    Rich lays tables out for 80 columns when it cannot ask a terminal, shortening cells to "smoll…";
    a pipe or a file has no width, so give it one that fits every value.
    """
    for out in (console, err_console):
        if not out.is_terminal:
            out.width = PIPE_WIDTH


F = TypeVar("F", bound=Callable[..., Any])

ModelOption = typer.Option(None, "--model", "-m", help="Bundled name, folder, .gguf file or hub id.")
JsonOption = typer.Option(False, "--json", metavar="", help="Print machine-readable JSON instead of a table.")
RawOption = typer.Option(False, "--raw", metavar="", help="Send the prompt as raw text, without the chat template.")


def settings_from(ctx: typer.Context | None = None) -> Settings:
    """The settings built once by the root command (env vars + global flags)."""
    if ctx is not None and isinstance(ctx.obj, Settings):
        return ctx.obj
    return Settings.from_env()


def load_lm(model: str | None, settings: Settings, quiet: bool = False) -> LM:
    """Load a causal LM with a status spinner on stderr (the first load converts the GGUF)."""
    from pellucid.service import load_model

    name = model or settings.default_model
    if quiet:
        return load_model(name, settings)
    with err_console.status(f"Loading {name}…"):
        return load_model(name, settings)


def model_pool(settings: Settings, lm: LM | None = None) -> ModelPool:
    """A model pool for one command: ``lm`` (already loaded, with its spinner) and whatever else a
    verb needs (the sentence encoder), loaded on first use."""
    from pellucid.service import ModelPool

    pool = ModelPool(settings)
    if lm is not None:
        pool.add(lm)
    return pool


def open_store(ctx: typer.Context | None = None, *, create: bool = False) -> Store:
    """The monitoring store of these settings (``PELLUCID_DATABASE_URL``, else SQLite in the home),
    migrated to the current schema; close it (or use it in ``with``) when done.

    Commands that only read refuse a store that does not exist (``create=False``); commands that
    write (adding an alert rule, saving an evaluation or an audit) create it.
    """
    from pellucid.monitor import Store

    return Store.open(settings=settings_from(ctx), create=create)


def print_json(data: Any) -> None:
    """Print JSON to stdout (no colour, no wrapping: safe for pipes)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as one red error line (as plain text: ``pellucid[ray]`` is not markup) and exit."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn Pellucid errors into one red line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PellucidError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]
