"""Alembic environment for the monitoring store.

Pellucid runs migrations itself (``Store.upgrade()``), passing an open connection in
``config.attributes["connection"]``; the connection is already inside a transaction that holds
the migration lock, so concurrent replicas upgrade one at a time.

Developers writing a new revision can still use the ``alembic`` command: with no connection
given, this file connects to ``sqlalchemy.url`` from the Alembic config. Autogenerate is a
developer tool only (it compares against ``pellucid.monitor.db.Base.metadata``); it never runs
when Pellucid starts.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from pellucid.monitor.db import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
