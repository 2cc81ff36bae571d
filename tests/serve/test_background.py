"""``create_app(..., background=True)``: the server enriches the calls it logs, by itself."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from pellucid.monitor import Store
from pellucid.monitor.enrich import MARKER
from pellucid.serve.app import create_app
from pellucid.service import ModelPool


@pytest.mark.integration  # the enricher embeds with the bundled MiniLM
def test_server_enriches_logged_calls_in_the_background(tiny_lm, settings, tmp_path):
    settings = settings.with_overrides(default_model=tiny_lm.name)
    pool = ModelPool(settings)
    pool.add(tiny_lm)
    store = Store.open(f"sqlite:///{tmp_path / 'bg.db'}")
    try:
        app = create_app(settings, pool, store, background=True)
        with TestClient(app) as client:
            body = {"model": tiny_lm.name, "messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 4}
            reply = client.post("/v1/chat/completions", json=body)
            assert reply.status_code == 200
            record_id = reply.headers["X-Pellucid-Record-Id"]
            app.state.pellucid.monitor.flush(timeout=30)
            deadline = time.monotonic() + 120
            metrics: dict[str, float] = {}
            while time.monotonic() < deadline and MARKER not in metrics:
                time.sleep(0.5)
                metrics = store.repo.get_record(record_id).metrics
        assert MARKER in metrics, f"the record was not enriched: {metrics}"
        assert metrics["perplexity"] > 1.0
        ids, vectors = store.repo.get_embeddings(field="prompt")  # the MiniLM embedding of the prompt
        assert ids == [record_id] and vectors.shape == (1, 384)
    finally:
        store.close()
