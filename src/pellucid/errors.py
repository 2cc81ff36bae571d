"""Typed exceptions: every error a user can cause has a class here.

Each message names the bad value, what is allowed, and how to fix it. The CLI prints
``PellucidError`` messages as one line and exits non-zero; the API maps them to 4xx
responses. Anything that is not a ``PellucidError`` is a bug in Pellucid.
"""

from __future__ import annotations

from collections.abc import Iterable


class PellucidError(Exception):
    """Base class of every error caused by user input or environment."""


class InvalidInputError(PellucidError, ValueError):
    """A value passed by the user is not acceptable (empty prompt, bad parameter...)."""


class ModelNotFoundError(PellucidError, LookupError):
    """A model name, path or hub id that cannot be resolved to loadable weights."""


class ModelLoadError(PellucidError):
    """Weights were found but could not be loaded (corrupt file, unsupported format...)."""


class PromptTooLongError(InvalidInputError):
    """The tokenized input does not fit the model's context window."""


class Cancelled(PellucidError):
    """A long computation stopped at a progress point because it was cancelled (a job cancelled, or
    the client that asked for it went away)."""


class ServerBusyError(PellucidError):
    """The server cannot take the request now (its queue is full, or it is shutting down): retry later.

    ``retry_after`` is the suggested wait in whole seconds (the HTTP ``Retry-After`` header).
    """

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class UnknownNameError(InvalidInputError, KeyError):
    """A name looked up in a registry (method, site, check...) that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0]) if self.args else ""


def unknown_name(kind: str, value: object, valid: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the standard "unknown X" error listing every valid choice."""
    choices = ", ".join(sorted(valid))
    message = f"Unknown {kind}: {value!r}. Available: {choices}."
    if hint:
        message += f" {hint}"
    return UnknownNameError(message)
