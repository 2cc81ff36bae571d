"""Exposure: the API token, CORS, the body-size and prompt-length limits, and what ``serve`` binds."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.hardening.conftest import TOKEN

PROTECTED = [
    ("GET", "/api/records"),
    ("GET", "/api/models"),
    ("GET", "/api/openapi.json"),
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/api/generate"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_token_is_required_on_api_and_v1(hardened, method, path):
    gw = hardened(api_token=TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": TOKEN + "x"}, {"Authorization": TOKEN}):
        res = gw.client.request(method, path, headers=headers, json={})
        assert res.status_code == 401, (headers, res.text)
        assert res.headers["www-authenticate"] == "Bearer"
        error = res.json()["error"]
        assert "Unauthorized" in error["message"]
        if path.startswith("/v1"):
            assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
        else:
            assert error["type"] == "Unauthorized"


def test_right_token_passes_by_bearer_or_api_key(hardened):
    gw = hardened(api_token=TOKEN)
    assert gw.client.get("/api/records", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert gw.client.get("/api/records", headers={"X-API-Key": TOKEN}).status_code == 200
    res = gw.chat("hi", headers={"Authorization": f"bearer {TOKEN}"}, max_tokens=2)
    assert res.status_code == 200
    assert len(gw.records()) == 1


def test_health_and_workbench_stay_open(hardened):
    gw = hardened(api_token=TOKEN)
    assert gw.client.get("/api/health").status_code == 200
    assert gw.client.get("/health").status_code == 200
    assert gw.client.get("/").status_code == 200


def test_refused_calls_are_not_logged(hardened):
    gw = hardened(api_token=TOKEN)
    assert gw.chat("secret prompt").status_code == 401
    assert gw.records() == []


def test_no_token_configured_means_open_on_loopback(hardened):
    gw = hardened()
    assert gw.client.get("/api/records").status_code == 200


def test_cors_is_off_by_default_and_lists_origins_when_set(hardened):
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    off = hardened()
    res = off.client.options("/v1/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in res.headers
    assert "access-control-allow-origin" not in off.client.get("/api/health", headers=preflight).headers
    on = hardened(cors_origins=("http://ui.example",), api_token=TOKEN)
    ok = on.client.options("/v1/chat/completions", headers={**preflight, "Origin": "http://ui.example"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://ui.example"
    bad = on.client.options("/v1/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in bad.headers


def test_oversized_body_is_413_with_json_by_length_and_by_stream(hardened):
    gw = hardened(max_body_bytes=2_000)
    big = {"messages": [{"role": "user", "content": "x" * 5_000}], "max_tokens": 2}
    res = gw.client.post("/v1/chat/completions", json=big)
    assert res.status_code == 413
    assert res.json()["error"]["code"] == "request_too_large" and "2000 bytes" in res.json()["error"]["message"]
    chunks = (b"x" * 500 for _ in range(10))  # no Content-Length: counted as it arrives
    res = gw.client.post("/api/generate", content=chunks, headers={"Content-Type": "application/json"})
    assert res.status_code == 413 and res.json()["error"]["type"] == "PayloadTooLarge"
    assert gw.records() == []  # refused before the app: nothing logged
    small = gw.chat("hi", max_tokens=2)
    assert small.status_code == 200


def test_prompt_length_limits(hardened):
    gw = hardened(max_prompt_chars=50)
    res = gw.chat("y" * 51)
    assert res.status_code == 400
    assert (
        "51 characters" in res.json()["error"]["message"]
        and "PELLUCID_MAX_PROMPT_CHARS" in res.json()["error"]["message"]
    )
    [record] = gw.records()
    assert record.metadata["gateway"]["status"] == 400
    res = gw.client.post("/api/generate", json={"prompt": "z" * 100_001})
    assert res.status_code == 422 and "100000" in res.text


def test_ensure_token_rules():
    from pellucid.serve.security import ensure_token, is_loopback
    from pellucid.settings import Settings

    for host in ("127.0.0.1", "127.0.0.5", "::1", "localhost"):
        assert is_loopback(host) and ensure_token(Settings(host=host)) == (Settings(host=host), None)
    settings, token = ensure_token(Settings(host="0.0.0.0"))
    assert token and len(token) >= 40 and settings.api_token == token
    kept, made = ensure_token(Settings(host="0.0.0.0", api_token="mine"))
    assert made is None and kept.api_token == "mine"
    assert Settings.from_env({"PELLUCID_API_TOKEN": " abc "}).api_token == "abc"
    assert Settings.from_env({"PELLUCID_CORS_ORIGINS": "http://a, http://b"}).cors_origins == ("http://a", "http://b")


def test_serve_on_a_public_address_prints_a_token_once(monkeypatch, tmp_path):
    import uvicorn

    from pellucid.cli.main import app

    seen = {}

    def fake_run(asgi, host, port, **kwargs):
        from fastapi.testclient import TestClient

        seen["host"] = host
        with TestClient(asgi) as client:
            seen["open"] = client.get("/api/records").status_code
            seen["health"] = client.get("/api/health").status_code

    monkeypatch.setattr(uvicorn, "run", fake_run)
    env = {"PELLUCID_HOME": str(tmp_path), "PELLUCID_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    monkeypatch.delenv("PELLUCID_API_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--no-preload", "--no-background"], env=env)
    assert result.exit_code == 0, result.output
    assert seen == {"host": "0.0.0.0", "open": 401, "health": 200}
    token = result.output.split("own):\n", 1)[1].split("\n", 1)[0].strip()
    assert len(token) >= 40 and result.output.count(token) == 1
    loopback = CliRunner().invoke(app, ["serve", "--no-preload", "--no-background"], env=env)
    assert loopback.exit_code == 0 and "API token" not in loopback.output and seen["open"] == 200


def test_body_limit_middleware_alone():
    """Bad Content-Length is a 400, a body in chunks is replayed intact to the app."""
    import asyncio
    import json

    from pellucid.serve.security import BodyLimitMiddleware

    seen: dict[str, bytes] = {}

    async def app(scope, receive, send):
        message = await receive()
        seen["body"] = message["body"]
        await send({"type": "http.response.start", "status": 429, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def call(headers, chunks):
        sent = []
        queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

        async def receive():
            return queue.pop(0)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "path": "/v1/chat/completions", "headers": headers}
        await BodyLimitMiddleware(app, max_bytes=10)(scope, receive, send)
        return sent

    bad = asyncio.run(call([(b"content-length", b"abc")], [b"{}"]))
    assert bad[0]["status"] == 400
    assert json.loads(bad[1]["body"])["error"]["code"] == "invalid_content_length"
    ok = asyncio.run(call([], [b"12345", b"678"]))
    assert seen["body"] == b"12345678" and ok[0]["status"] == 429
    assert (b"retry-after", b"1") in ok[0]["headers"]
    big = asyncio.run(call([], [b"123456", b"789012"]))
    assert big[0]["status"] == 413
