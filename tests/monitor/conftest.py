"""Fixtures for the monitoring store: every test runs on SQLite and, when available, PostgreSQL.

- ``db_url``: a fresh, empty database per test — a new SQLite file in ``tmp_path``, or a new
  schema in the PostgreSQL database named by ``PELLUCID_TEST_POSTGRES_URL`` (dropped afterwards).
  Without that variable the PostgreSQL half is skipped, saying how to enable it.
- ``store``: ``Store.open(db_url)`` (migrated), closed after the test.
- ``make``: builds valid ``NewRecord`` objects with overrides.

Start a throwaway server for the PostgreSQL half with::

    export PELLUCID_TEST_POSTGRES_URL=$(scripts/postgres.sh start /tmp/pellucid-pg)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

POSTGRES_ENV = "PELLUCID_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitor.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL half skipped: set {POSTGRES_ENV}, e.g. "
            f"export {POSTGRES_ENV}=$(scripts/postgres.sh start /tmp/pellucid-pg)"
        )
    from tests.support.postgres import fresh_schema

    with fresh_schema(base, "test") as url:
        yield url


@pytest.fixture()
def store(db_url: str):
    from pellucid.monitor import Store

    opened = Store.open(db_url)
    yield opened
    opened.close()


@pytest.fixture()
def make() -> Callable[..., Any]:
    from pellucid.monitor import NewRecord

    def build(prompt: Any = "What is the capital of France?", response: str | None = "Paris.", **fields: Any):
        return NewRecord(prompt=prompt, response=response, **fields)

    return build


def at(text: str) -> datetime:
    """A UTC datetime from ``'2026-01-02 03:04'`` (test helper)."""
    from datetime import UTC

    return datetime.fromisoformat(text).replace(tzinfo=UTC)
