"""What the proxy's hot path does to stay cheap, and that the upstream and the client see the same as before.

- The upstream gets the client's very bytes (unless the model is renamed), with the headers an
  ``httpx.AsyncClient`` sends, and no cookie jar shared between callers.
- Proxied calls take the short way past FastAPI's routing (``serve/proxy_fast.py``) and are
  answered and logged as the routes would, behind the same token check.
- ``count_tokens`` is asked only about upstreams mapped to local weights.
- ``until`` ends a stalled read at the total deadline only when the deadline is nearer than the
  transport's read timeout (which ends stalled reads itself otherwise).
- A stream's client has the whole answer at ``data: [DONE]``, before the upstream's end of
  message; what comes after it is read (the connection is reused) and not relayed.
- The short way keeps the body limit and CORS, and answers an unexpected failure as a 500.
- ``otlp_map._json`` tells plain text from JSON by its first character with the same answers as
  trying ``json.loads`` on every string.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from pellucid.monitor import RecordFilter, Store, StoredRecord
from pellucid.serve.app import create_app
from pellucid.serve.otlp_map import _json
from pellucid.serve.proxy_answers import until
from pellucid.serve.proxy_pools import POOLS
from pellucid.service import ModelPool
from tests.support.loopback import answer_lifespan, serving

ANSWER = {
    "id": "x", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
}  # fmt: skip


class Recorder:
    """A raw ASGI upstream that keeps each request's body bytes and headers; answers without usage, sets a cookie."""

    def __init__(self) -> None:
        self.seen: list[tuple[bytes, dict[str, str]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await answer_lifespan(receive, send)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append((body, {k.decode(): v.decode() for k, v in scope["headers"]}))
        content = json.dumps(ANSWER).encode()
        headers = [(b"content-type", b"application/json"), (b"set-cookie", b"session=abc; Path=/")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})


@pytest.fixture
def proxied(settings, tmp_path, tiny_dir, monkeypatch) -> Iterator[tuple[str, Any, Recorder, Store]]:
    monkeypatch.setenv("HOT_KEY", "sk-hot")
    upstream = Recorder()
    with serving(upstream) as base:
        settings = settings.with_overrides(
            upstreams=(f"plain={base}/v1", f"renamed={base}/v1#other", f"mapped={base}/v1"),
            upstream_key_env=("plain=HOT_KEY",),
            local_weights=(f"mapped={tiny_dir}",),
        )
        store = Store.open(f"sqlite:///{tmp_path / 'hot.db'}")
        app = create_app(settings, ModelPool(settings), store)
        try:
            with serving(app) as url:
                yield url, app, upstream, store
        finally:
            store.close()


def _records(app: Any, store: Store) -> list[StoredRecord]:
    assert app.state.pellucid.monitor.flush(timeout=30)
    return store.repo.list_records(RecordFilter(), limit=10, oldest_first=True).items


def test_the_upstream_gets_the_clients_bytes_and_a_clients_headers(proxied):
    url, _, upstream, _ = proxied
    raw = b'{ "model" : "plain",\n  "messages": [{"role": "user", "content": "caf\\u00e9"}], "temperature": 0.5}'
    res = httpx.post(f"{url}/v1/chat/completions", content=raw, headers={"Content-Type": "application/json"})
    assert res.status_code == 200 and res.json() == ANSWER
    body, headers = upstream.seen[-1]
    assert body == raw  # not re-serialised: spacing, escapes and key order as the client sent them
    assert headers["authorization"] == "Bearer sk-hot" and headers["content-type"] == "application/json"
    assert headers["user-agent"] == f"python-httpx/{httpx.__version__}" and headers["accept"] == "*/*"
    assert headers["accept-encoding"] == "identity" and headers["content-length"] == str(len(raw))


def test_a_renamed_model_is_sent_as_the_upstream_names_it(proxied):
    url, app, upstream, store = proxied
    sent = {"model": "renamed", "messages": [{"role": "user", "content": "é"}], "n": 1}
    assert httpx.post(f"{url}/v1/chat/completions", json=sent).status_code == 200
    body, headers = upstream.seen[-1]
    assert json.loads(body) == {**sent, "model": "other"} and "authorization" not in headers
    assert _records(app, store)[0].model == "renamed"


def test_no_cookie_travels_from_one_call_to_the_next(proxied):
    url, _, upstream, _ = proxied
    body = {"model": "plain", "messages": [{"role": "user", "content": "a"}]}
    for _ in range(POOLS + 2):  # later calls go to pools that already got the cookie
        assert httpx.post(f"{url}/v1/chat/completions", json=body).status_code == 200
    assert len(upstream.seen) == POOLS + 2 and all("cookie" not in headers for _, headers in upstream.seen)


def test_tokens_are_counted_only_for_mapped_upstreams(proxied):
    url, app, _, store = proxied
    asked: list[str] = []

    def count(upstream: Any, prompt: Any, response: str | None) -> tuple[int, int]:
        asked.append(upstream.name)
        return 11, 2

    app.state.pellucid.proxy.count_tokens = count
    for model in ("plain", "mapped"):
        httpx.post(f"{url}/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "a"}]})
    assert asked == ["mapped"]
    plain, mapped = _records(app, store)
    assert (plain.prompt_tokens, plain.completion_tokens) == (None, None)
    assert (mapped.prompt_tokens, mapped.completion_tokens) == (11, 2)


async def _chunks(pauses: list[float]) -> AsyncIterator[bytes]:
    for i, pause in enumerate(pauses):
        await asyncio.sleep(pause)
        yield f"chunk {i}".encode()


def _collect(pauses: list[float], total: float, read_timeout: float | None) -> tuple[list[bytes], str | None, float]:
    got: list[bytes] = []
    error: str | None = None
    started = time.monotonic()

    async def main() -> None:
        nonlocal error
        try:
            async for chunk in until(_chunks(pauses), time.monotonic() + total, read_timeout):
                got.append(chunk)
        except TimeoutError:
            error = "timeout"

    anyio.run(main)
    return got, error, time.monotonic() - started


def test_until_cuts_a_stall_at_the_deadline_when_it_is_nearer_than_the_read_timeout():
    got, error, waited = _collect([0.0, 0.0, 5.0], total=0.3, read_timeout=10.0)
    assert got == [b"chunk 0", b"chunk 1"] and error == "timeout" and waited < 2.0


def test_until_leaves_stalls_to_the_read_timeout_while_the_deadline_is_far():
    # a pause longer than the read timeout but well within the total: the transport, not until, would end it
    got, error, _ = _collect([0.0, 0.2, 0.0], total=30.0, read_timeout=0.05)
    assert got == [b"chunk 0", b"chunk 1", b"chunk 2"] and error is None


def test_until_without_a_read_timeout_always_watches_the_deadline():
    got, error, waited = _collect([0.0, 5.0], total=0.3, read_timeout=None)
    assert got == [b"chunk 0"] and error == "timeout" and waited < 2.0


def test_until_refuses_at_once_past_the_deadline():
    got, error, _ = _collect([0.0], total=-1.0, read_timeout=10.0)
    assert got == [] and error == "timeout"


def _tried(value: Any) -> Any:
    """What ``_json`` did before: try ``json.loads`` on every string."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def test_json_attribute_parsing_answers_as_trying_every_string():
    cases: list[Any] = ["", " ", "plain text", "The answer", ' {"a": [1, 2]} ', "[1]", '"quoted"', "-1.5e3", "42",
                        "true", " false\n", "null", "NaN", "Infinity", "-Infinity", "nothing", "true x", "12 apples",
                        "{broken", "\u00a0{}", "\u0663", 7, None, ["x"]]  # fmt: skip
    rng = random.Random(17)
    alphabet = ' \t\n\r{}[]"-0123456789truefalsnNIyx,:.'
    cases += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7))) for _ in range(20_000)]
    for case in cases:
        mine, reference = _json(case), _tried(case)
        assert mine == reference or (mine != mine and reference != reference), case  # NaN equals nothing


@contextmanager
def _gateway(settings: Any, db: Path, base: str, **overrides: Any) -> Iterator[tuple[str, Any, Store]]:
    settings = settings.with_overrides(upstreams=(f"plain={base}/v1",), **overrides)
    store = Store.open(f"sqlite:///{db}")
    app = create_app(settings, ModelPool(settings), store)
    try:
        with serving(app) as url:
            yield url, app, store
    finally:
        store.close()


def _comparable(record: StoredRecord) -> dict[str, Any]:
    data = record.to_dict()
    for key in ("id", "created_at", "latency_ms", "ttft_ms"):
        data.pop(key, None)
    return data


def test_the_short_way_answers_and_logs_as_the_routes_do(settings, tmp_path):
    """With --serve-local the routes pick the upstream; without it the fast path does: same answer, same record."""
    upstream = Recorder()
    call = {"model": "plain", "messages": [{"role": "user", "content": "same?"}], "temperature": 0.1}
    seen = []
    with serving(upstream) as base:
        for i, local in enumerate((False, True)):
            with _gateway(settings, tmp_path / f"{i}.db", base, serve_local=local) as (url, app, store):
                assert app.state.pellucid.proxy.serve_local is local
                res = httpx.post(f"{url}/v1/chat/completions", json=call, headers={"X-Pellucid-Session": "s1"})
                [record] = _records(app, store)
                seen.append((res.status_code, res.content, res.headers["content-type"], _comparable(record)))
    assert seen[0] == seen[1] and seen[0][0] == 200 and len(upstream.seen) == 2


def test_the_short_way_is_still_behind_the_token(settings, tmp_path):
    upstream = Recorder()
    with serving(upstream) as base, _gateway(settings, tmp_path / "t.db", base, api_token="tok") as (url, app, store):
        call = {"model": "plain", "messages": [{"role": "user", "content": "a"}]}
        refused = httpx.post(f"{url}/v1/chat/completions", json=call)
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "invalid_request_error"
        assert upstream.seen == []  # nothing forwarded, nothing logged
        assert _records(app, store) == []
        ok = httpx.post(f"{url}/v1/chat/completions", json=call, headers={"Authorization": "Bearer tok"})
        assert ok.status_code == 200 and len(upstream.seen) == 1 and len(_records(app, store)) == 1


# -- the garbage collector while serving -------------------------------------------------------
def test_serve_freezes_the_start_up_heap_and_collects_young_objects_less_often(tmp_path, monkeypatch):
    import gc

    import uvicorn
    from typer.testing import CliRunner

    from pellucid.cli.main import app
    from pellucid.cli.serve_cmd import YOUNG_COLLECTION_EVERY

    seen: dict[str, Any] = {}

    def run(asgi: Any, **kwargs: Any) -> None:  # what the server would start with
        seen["frozen"], seen["threshold"] = gc.get_freeze_count(), gc.get_threshold()

    before = gc.get_threshold()
    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setenv("PELLUCID_HOME", str(tmp_path))
    try:
        result = CliRunner().invoke(app, ["serve", "--upstream", "a=http://127.0.0.1:9/v1", "--no-background"])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert result.exit_code == 0, result.output
    # everything imported and built at start-up is out of the collector's sight
    assert seen["frozen"] > 10_000
    assert seen["threshold"] == (YOUNG_COLLECTION_EVERY, *before[1:])


# -- the answer's end ------------------------------------------------------------------------------
def _event(data: dict[str, Any] | str) -> bytes:
    return b"data: " + (data if isinstance(data, str) else json.dumps(data)).encode() + b"\n\n"


def _delta(text: str) -> dict[str, Any]:
    return {"id": "s", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}


class Lingering:
    """A streaming upstream that sends ``data: [DONE]``, then ``after`` once ``release`` is set, then ends.

    Keeps, per request, the proxy's side of the connection (its address) so reuse can be seen.
    """

    def __init__(self, after: bytes = b"") -> None:
        self.after = after
        self.release = threading.Event()
        self.peers: list[Any] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await answer_lifespan(receive, send)
        while (await receive()).get("more_body"):
            pass
        self.peers.append(tuple(scope["client"]))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for piece in ("Hel", "lo"):
            await send({"type": "http.response.body", "body": _event(_delta(piece)), "more_body": True})
        await send({"type": "http.response.body", "body": _event("[DONE]"), "more_body": True})
        while not self.release.is_set():  # the end of the HTTP body waits for the test
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": self.after, "more_body": False})


def _stream(url: str) -> bytes:
    call = {"model": "plain", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=call, timeout=10) as res:
        assert res.status_code == 200
        return res.read()


def _pooled_again(app: Any) -> None:
    """Wait until the proxy holds an idle upstream connection (the last answer was read to its end)."""
    pools = app.state.pellucid.proxy.pools
    deadline = time.monotonic() + 10
    while not any(c.is_idle() for core in pools._cores for c in core.connections):
        assert time.monotonic() < deadline, "the upstream connection never went back to the pool"
        time.sleep(0.01)


def test_the_client_has_the_whole_answer_at_done_before_the_upstream_ends(settings, tmp_path):
    """The chunk with ``[DONE]`` ends the client's response; the upstream's end comes later, the record before."""
    upstream = Lingering()
    with serving(upstream) as base, _gateway(settings, tmp_path / "d.db", base) as (url, app, store):
        body = _stream(url)  # returns while the upstream still holds its answer open (else: a read timeout)
        assert body.endswith(b"data: [DONE]\n\n") and body.count(b"data: ") == 3
        [record] = _records(app, store)
        assert record.response == "Hello" and record.error is None and record.metadata["gateway"]["status"] == 200
        upstream.release.set()
        _pooled_again(app)  # the rest of the first answer was read, so its connection can be reused
        assert _stream(url) == body
        assert upstream.peers[0] == upstream.peers[1]  # ... and it was, not closed
        assert [r.response for r in _records(app, store)] == ["Hello", "Hello"]


def test_what_an_upstream_sends_after_done_is_read_and_not_relayed(settings, tmp_path, caplog):
    upstream = Lingering(after=_event(_delta(" again")))
    upstream.release.set()
    with serving(upstream) as base, _gateway(settings, tmp_path / "a.db", base) as (url, app, store):
        with caplog.at_level(logging.WARNING, logger="pellucid.serve.proxy"):
            first = _stream(url)
            _pooled_again(app)
            second = _stream(url)
        assert first == second and first.endswith(b"data: [DONE]\n\n") and b"again" not in first
        assert upstream.peers[0] == upstream.peers[1]  # the connection was read to its end and reused
        assert [r.response for r in _records(app, store)] == ["Hello", "Hello"]
    dropped = [r.getMessage() for r in caplog.records if "after 'data: [DONE]'" in r.getMessage()]
    assert len(dropped) == 2 and f"{len(upstream.after)} bytes" in dropped[0]


# -- the short way's security and errors ---------------------------------------------------------
def test_the_short_way_keeps_the_body_limit_and_cors(settings, tmp_path):
    upstream = Recorder()
    origin = "http://app.example"
    overrides = {"max_body_bytes": 200, "cors_origins": (origin,)}
    with serving(upstream) as base, _gateway(settings, tmp_path / "l.db", base, **overrides) as (url, app, store):
        assert app.proxy_path is not None  # the short way is on
        call = {"model": "plain", "messages": [{"role": "user", "content": "x" * 300}]}
        refused = httpx.post(f"{url}/v1/chat/completions", json=call)
        assert refused.status_code == 413 and "PELLUCID_MAX_BODY_BYTES" in refused.json()["error"]["message"]
        assert upstream.seen == [] and _records(app, store) == []
        call["messages"][0]["content"] = "x"
        ok = httpx.post(f"{url}/v1/chat/completions", json=call, headers={"Origin": origin})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == origin
        assert "X-Pellucid-Record-Id" in ok.headers["access-control-expose-headers"]


def test_an_unexpected_failure_on_the_short_way_is_an_openai_500(settings, tmp_path, caplog):
    upstream = Recorder()
    with serving(upstream) as base, _gateway(settings, tmp_path / "e.db", base) as (url, app, store):

        async def broken(*args: Any) -> None:
            raise RuntimeError("boom")

        app.state.pellucid.proxy.forward = broken
        with caplog.at_level(logging.ERROR, logger="pellucid.serve.proxy_fast"):
            res = httpx.post(f"{url}/v1/chat/completions", json={"model": "plain", "messages": []})
        error = res.json()["error"]
        assert res.status_code == 500 and error["type"] == "server_error" and "RuntimeError: boom" in error["message"]
    assert any("failed" in r.getMessage() and r.exc_info for r in caplog.records)
