"""Server-side cancel: when the client of ``POST /api/explanations`` (or of a record's explanation)
disconnects, the method stops at its next progress point instead of finishing.

The app is driven at the ASGI level, as uvicorn drives it: the request body, then — once the
computation has reported its first progress — ``http.disconnect``, which is what the server
receives when the browser aborts the fetch.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pellucid.monitor import NewRecord
from pellucid.serve.disconnect import CancelToken
from tests.support.asgi import call_and_leave

PROMPT = (
    "Please tell me in one short sentence which of the rivers that flow through the old towns of "
    "northern Europe is the longest one and why it matters"
)
#: LIME on this prompt: thousands of distinct perturbed prompts, scored in chunks of 256, one
#: progress call ``(prompts scored, distinct prompts)`` per chunk.
PARAMS = {"n_samples": 4000}


@pytest.fixture()
def progress_calls(monkeypatch) -> tuple[list[tuple[int, int]], threading.Event]:
    """Every progress call the running method makes, and an event set at the first."""
    calls: list[tuple[int, int]] = []
    first = threading.Event()
    original = CancelToken.progress

    def spy(self: CancelToken, done: int, total: int) -> None:
        calls.append((done, total))
        first.set()
        original(self, done, total)

    monkeypatch.setattr(CancelToken, "progress", spy)
    return calls, first


def _routes(app: Any, tiny_lm: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    record = NewRecord(prompt=PROMPT, response=" The Rhine.", model=tiny_lm.name)
    app.state.pellucid.store.repo.insert_records([record])
    return {
        "explanations": (
            "/api/explanations",
            {"prompt": PROMPT, "target": " The Rhine.", "method": "lime", "params": PARAMS},
        ),
        "record": (f"/api/records/{record.id}/explanation", {"method": "lime", "params": PARAMS}),
    }


@pytest.mark.parametrize("route", ["explanations", "record"])
def test_a_disconnect_stops_the_explanation_early(app, tiny_lm, progress_calls, route):
    calls, first = progress_calls
    path, body = _routes(app, tiny_lm)[route]
    messages = asyncio.run(call_and_leave(app, path, body, first))
    start = next(m for m in messages if m["type"] == "http.response.start")
    answer = json.loads(b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"))
    assert start["status"] == 499 and answer["error"]["type"] == "Cancelled"
    assert "client closed the connection" in answer["error"]["message"]
    # it stopped at the first progress point after the disconnect, far from the end
    done, total = calls[-1]
    assert total >= 10 and len(calls) <= 3 and done < total / 2, calls


def test_without_a_disconnect_the_explanation_completes(app, tiny_lm, progress_calls):
    calls, _ = progress_calls
    path, body = _routes(app, tiny_lm)["explanations"]
    body = {**body, "params": {"n_samples": 600}}
    with TestClient(app) as client:
        res = client.post(path, json=body)
    assert res.status_code == 200, res.text
    done, total = calls[-1]
    assert done == total and len(calls) == -(-total // 256) >= 2  # every chunk of 256 prompts reported
    assert res.json()["params"]["n_samples"] == 600
