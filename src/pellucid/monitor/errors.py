"""Errors raised by the monitoring store and the logging SDK.

All of them are :class:`pellucid.errors.PellucidError` subclasses, so the CLI prints them as
one line and the API maps them to responses: :class:`StoreBusyError` to ``429 Too Many
Requests``, :class:`RecordNotFoundError` to ``404``, :class:`StoreConnectionError` to a failed
start-up.
"""

from __future__ import annotations

from pellucid.errors import PellucidError


class StoreError(PellucidError):
    """The monitoring store could not do what was asked."""


class StoreConnectionError(StoreError):
    """The database URL cannot be opened: bad URL, server down, wrong credentials, no driver.

    The message carries the URL with its password hidden and the driver's reason.
    """


class StoreBusyError(StoreError):
    """The writer's queue is full: records arrive faster than the database absorbs them.

    A server answers ``429 Too Many Requests`` (with ``Retry-After``); an application can
    retry later, raise ``max_queue`` or lower the logging rate.
    """


class StoreClosedError(StoreError):
    """A record was given to a writer (or a monitor) after ``close()``."""


class RecordNotFoundError(StoreError, LookupError):
    """No record has the given id (it was never written, or it was purged)."""

    def __str__(self) -> str:  # LookupError subclasses of KeyError would quote the message
        return str(self.args[0]) if self.args else ""
