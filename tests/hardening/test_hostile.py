"""Hand-written hostile requests against ``/v1``: each gets a 4xx with an OpenAI-shaped JSON error (never a 5xx).

Malformed messages, wrong types, huge numbers, invalid UTF-8, lone surrogates, NUL bytes, deep
nesting, over-long headers. Every refused call that reaches the gateway is still logged once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

MSG = [{"role": "user", "content": "hi"}]

BODIES: list[tuple[str, Any]] = [
    ("no messages", {}),
    ("messages not a list", {"messages": "hi"}),
    ("empty messages", {"messages": []}),
    ("message not an object", {"messages": ["hi"]}),
    ("unknown role", {"messages": [{"role": "tool", "content": "x"}]}),
    ("role wrong type", {"messages": [{"role": 5, "content": "x"}]}),
    ("content number", {"messages": [{"role": "user", "content": 12}]}),
    ("content null", {"messages": [{"role": "user", "content": None}]}),
    ("image part", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
    ("part not a dict", {"messages": [{"role": "user", "content": [1, 2]}]}),
    ("huge max_tokens", {"messages": MSG, "max_tokens": 10**30}),  # allowed: ends when the context is full
    ("negative max_tokens", {"messages": MSG, "max_tokens": -1}),
    ("float max_tokens", {"messages": MSG, "max_tokens": 2.5}),
    ("huge temperature", {"messages": MSG, "temperature": 1e308}),
    ("huge seed", {"messages": MSG, "seed": 2**80, "max_tokens": 2}),  # was a 500 (torch.manual_seed overflow)
    ("negative seed", {"messages": MSG, "seed": -5, "max_tokens": 2}),
    ("top_p zero", {"messages": MSG, "top_p": 0}),
    ("n two", {"messages": MSG, "n": 2}),
    ("stop five", {"messages": MSG, "stop": ["a", "b", "c", "d", "e"]}),
    ("stop empty", {"messages": MSG, "stop": [""]}),
    ("stop wrong type", {"messages": MSG, "stop": 3}),
    ("stream string", {"messages": MSG, "stream": "yes please"}),
    ("stream_options wrong", {"messages": MSG, "stream": True, "stream_options": "x"}),
    ("metadata list", {"messages": MSG, "metadata": [1, 2]}),
    ("metadata too many keys", {"messages": MSG, "metadata": {str(i): i for i in range(100)}}),
    ("user too long", {"messages": MSG, "user": "u" * 500}),
    ("model empty", {"messages": MSG, "model": ""}),
    ("model number", {"messages": MSG, "model": 7}),
    ("unsupported tools", {"messages": MSG, "tools": [{"type": "function"}]}),
    ("logit_bias", {"messages": MSG, "logit_bias": {"1": 100}}),
    ("body is a list", [1, 2, 3]),
    ("body is a string", "hello"),
    ("body is null", None),
    ("deep nesting", {"messages": MSG, "max_tokens": 2, "metadata": {"a": json.loads("[" * 500 + "]" * 500)}}),
]

RAW: list[tuple[str, bytes]] = [
    ("invalid utf-8", b'{"messages": [{"role": "user", "content": "\xff\xfe\xfa"}]}'),
    ("truncated json", b'{"messages": [{"role": "user", "content": "hi"'),
    ("lone surrogate", b'{"messages": [{"role": "user", "content": "\\ud800"}], "max_tokens": 2}'),
    ("nul byte", b'{"messages": [{"role": "user", "content": "a\\u0000b"}], "max_tokens": 2}'),
    ("NaN", b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}'),
    ("Infinity", b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": Infinity}'),
    ("empty body", b""),
    ("very deep", b"[" * 100_000 + b"]" * 100_000),
]


def _check(res: Any, *, allow_ok: bool = False) -> None:
    assert res.status_code < 500, res.text
    if allow_ok and res.status_code == 200:
        return
    assert 400 <= res.status_code < 500, res.text
    error = res.json()["error"]
    assert error["message"] and error["type"] in ("invalid_request_error", "rate_limit_error")


@pytest.mark.parametrize(("name", "body"), BODIES, ids=[b[0] for b in BODIES])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_hostile_json_bodies(sqlite_gateway, name, body, path):
    if path == "/v1/completions" and isinstance(body, dict) and body.get("messages") is MSG:
        body = {k: v for k, v in body.items() if k != "messages"} | {"prompt": "hi"}
    res = sqlite_gateway.client.post(path, json=body)
    _check(res, allow_ok=name in ("negative seed", "huge max_tokens", "deep nesting"))
    if path == "/v1/chat/completions":
        assert len(sqlite_gateway.records()) == 1  # every call that reached the gateway is logged once


@pytest.mark.parametrize(("name", "raw"), RAW, ids=[r[0] for r in RAW])
def test_hostile_raw_bodies(sqlite_gateway, name, raw):
    res = sqlite_gateway.client.post("/v1/chat/completions", content=raw, headers={"Content-Type": "application/json"})
    _check(res, allow_ok=name == "nul byte")
    records = sqlite_gateway.records()
    assert len(records) <= 1  # logged at most once, whatever the body


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Pellucid-User": "u" * 300},
        {"X-Pellucid-Session": "s" * 300},
        {"X-Pellucid-Tags": "t" * 300},
        {"X-Pellucid-Tags": ",,, ,"},
        {"X-Pellucid-Cache": b"\xff\xfe"},
        {"X-Pellucid-User": b"caf\xe9"},
        {"Content-Type": "text/plain"},
    ],
)
def test_hostile_headers(sqlite_gateway, headers):
    res = sqlite_gateway.client.post("/v1/chat/completions", json={"messages": MSG, "max_tokens": 2}, headers=headers)
    _check(res, allow_ok=True)


def test_unknown_v1_path_and_method(sqlite_gateway):
    for method, path in [("GET", "/v1/nothing"), ("DELETE", "/v1/chat/completions"), ("GET", "/v1/completions")]:
        res = sqlite_gateway.client.request(method, path)
        assert res.status_code in (404, 405)
        assert res.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/generate", b'{"prompt": "hi \\ud800", "max_new_tokens": 2}'),
        ("/api/score", b'{"prompt": "hi", "target": "\\udfff"}'),
        ("/api/explanations", b'{"prompt": "hi", "target": "x", "system": "\\ud800"}'),
        ("/api/generate", b'{"prompt": "hi", "seed": 1208925819614629174706176, "max_new_tokens": 2}'),
        ("/api/explanations", b'{"prompt": "hi", "target": "x", "method": "lime", "seed": -1}'),
    ],
)
def test_api_bugs_found_by_fuzzing_are_422(sqlite_gateway, path, raw):
    """Each of these was a 500 (tokenizer TypeError, torch seed overflow, numpy negative seed)."""
    res = sqlite_gateway.client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert res.status_code == 422, res.text
    assert res.json().get("detail") or res.json()["error"]["message"]
