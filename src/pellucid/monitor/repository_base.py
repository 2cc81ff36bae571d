"""What every monitoring repository shares: its engine, write connections, and the not-found error.

The store splits its SQL by aggregate — records and feedback (:mod:`~pellucid.monitor.repository`),
evaluation runs (:mod:`~pellucid.monitor.repository_evals`), alert rules and events
(:mod:`~pellucid.monitor.repository_alerts`), saved drift and audit reports
(:mod:`~pellucid.monitor.repository_reports`) and window aggregates over records
(:mod:`~pellucid.monitor.repository_analytics`) — each a small class over one engine, so each grows on
its own. Every call takes its own connection, so repositories are thread-safe.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from pellucid.errors import InvalidInputError
from pellucid.monitor import sql
from pellucid.monitor.errors import StoreError


class NotFoundError(StoreError, LookupError):
    """No evaluation run, alert rule or saved report has the given id or name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a record-style id (so it may be looked up as an id, not only a name)."""
    try:
        sql.check_id(value)
    except InvalidInputError:
        return False
    return True


class Repository:
    """Queries over one engine; thread-safe (each call takes its own connection)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def _write(self) -> Connection:
        """A connection for a write transaction (SQLite: taken with BEGIN IMMEDIATE, so writers queue)."""
        conn = self.engine.connect()
        conn.execution_options(sqlite_begin="IMMEDIATE")
        return conn
