"""Fixtures for the gateway: the tiny model in a pool, a fresh store per test (SQLite, and PostgreSQL
when ``PELLUCID_TEST_POSTGRES_URL`` is set), and the app over both.

``gateway`` yields an object with ``client`` (a TestClient whose lifespan runs), ``app``, ``store``
and ``records()`` — every record, oldest first, after flushing the writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pellucid.monitor import Store, StoredRecord
from pellucid.serve.app import create_app
from pellucid.service import ModelPool
from pellucid.settings import Settings
from tests.monitor.conftest import db_url  # noqa: F401  (the sqlite/postgresql parametrized URL)


@dataclass
class Gateway:
    app: FastAPI
    client: TestClient
    store: Store
    model: str

    def flush(self) -> None:
        assert self.app.state.pellucid.monitor.flush(timeout=30)

    def records(self, **filters: Any) -> list[StoredRecord]:
        from pellucid.monitor import RecordFilter

        self.flush()
        items = self.store.repo.list_records(RecordFilter(**filters), limit=1000, oldest_first=True).items
        return [self.store.repo.get_record(r.id) for r in items]

    def chat(self, content: str = "Hello there", *, headers: dict[str, str] | None = None, **body: Any) -> Any:
        payload = {"model": self.model, "messages": [{"role": "user", "content": content}], "max_tokens": 6}
        payload.update(body)
        return self.client.post("/v1/chat/completions", json=payload, headers=headers or {})


def make_gateway(lm: Any, settings: Settings, url: str, **overrides: Any) -> Iterator[Gateway]:
    settings = settings.with_overrides(default_model=lm.name, **overrides)
    pool = ModelPool(settings)
    pool.add(lm)
    store = Store.open(url)
    app = create_app(settings, pool, store)
    try:
        with TestClient(app) as client:
            yield Gateway(app, client, store, lm.name)
    finally:
        store.close()


@pytest.fixture()
def gateway(tiny_lm, settings, db_url) -> Iterator[Gateway]:  # noqa: F811
    yield from make_gateway(tiny_lm, settings, db_url)


@pytest.fixture()
def sqlite_gateway(tiny_lm, settings, tmp_path) -> Iterator[Gateway]:
    """The gateway on SQLite only, for tests that exercise no database behaviour."""
    yield from make_gateway(tiny_lm, settings, f"sqlite:///{tmp_path / 'gw.db'}")


@pytest.fixture()
def app(tiny_lm, settings, tmp_path) -> Iterator[Any]:
    """The app over the tiny model and a fresh SQLite store, for ASGI-level tests."""
    from pellucid.monitor import Store
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool

    pool = ModelPool(settings.with_overrides(default_model=tiny_lm.name))
    pool.add(tiny_lm)
    store = Store.open(f"sqlite:///{tmp_path / 'monitor.db'}")
    yield create_app(pool.settings, pool, store)
    store.close()


def sse_events(text: str) -> list[Any]:
    """The ``data:`` payloads of a server-sent event stream (JSON decoded, ``[DONE]`` kept as is)."""
    import json

    out = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out
