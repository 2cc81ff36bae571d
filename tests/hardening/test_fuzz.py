"""The whole OpenAPI spec fuzzed with schemathesis against the in-process app (ASGI).

Every operation gets positive (schema-valid) and negative (schema-violating) cases, generated
deterministically (``derandomize``) so a CI failure reproduces. Properties: no 5xx at all, and
every 4xx has a JSON error body (``{"error": ...}``, or FastAPI's ``{"detail": ...}`` under
``/api``). The run sends the API token, so the authenticated path is what is fuzzed. Marked
``slow``: CI runs it (the suite has no marker filter); ``-m "not slow"`` skips it locally.

Needs ``schemathesis`` (in the ``dev`` extra).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import pytest

from tests.hardening.conftest import TOKEN

#: cases per operation and mode: fewer for operations that run the model, more for the rest
EXAMPLES_HEAVY = 8
EXAMPLES_LIGHT = 26
_HEAVY = ("POST /api/generate", "POST /api/score", "POST /api/explanations", "POST /api/inspect", "POST /v1/")
MIN_REQUESTS = 1_000
#: generation lengths are clamped so the run stays short on the tiny model (values > 0 only:
#: invalid ones are kept, they are what negative cases are about)
_LENGTH_FIELDS = ("max_tokens", "max_new_tokens", "max_completion_tokens", "n_samples", "samples", "steps")
_MAX_LENGTH = 3


def _clamped(case: Any) -> Any:
    body = case.body
    if isinstance(body, dict) and case.operation.label in ("POST /api/generate", "POST /api/explanations"):
        body.setdefault("max_new_tokens", _MAX_LENGTH)  # their defaults (64, 32) dominate the run time
    if isinstance(body, dict):
        for key in _LENGTH_FIELDS:
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > _MAX_LENGTH:
                body[key] = _MAX_LENGTH
        if isinstance(body.get("params"), dict):
            for key in _LENGTH_FIELDS:
                if isinstance(body["params"].get(key), int) and body["params"][key] > _MAX_LENGTH:
                    body["params"][key] = _MAX_LENGTH
    return case


def _schemathesis() -> Any:
    if os.environ.get("CI") == "true":
        import schemathesis  # CI must run this test: a missing package is an error there

        return schemathesis
    return pytest.importorskip("schemathesis")


def _json_error(response: Any) -> bool:
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and bool(body.get("error") or body.get("detail"))


@pytest.mark.slow
def test_openapi_fuzz_no_5xx_and_json_4xx(hardened):
    schemathesis = _schemathesis()
    from hypothesis import HealthCheck, Phase, given, settings

    gw = hardened(api_token=TOKEN, max_prompt_chars=2_000)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", gw.app, headers={"Authorization": f"Bearer {TOKEN}"})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    bad_4xx: list[str] = []
    started = time.perf_counter()
    seconds: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        op_started = time.perf_counter()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode, headers=auth).map(_clamped))
            @settings(
                max_examples=EXAMPLES_HEAVY if operation.label.startswith(_HEAVY) else EXAMPLES_LIGHT,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                response = case.call(timeout=60)
                statuses[response.status_code] += 1
                where = f"{case.operation.label}: {case.body!r:.200} {case.query!r:.100}"
                if response.status_code >= 500:
                    server_errors.append(f"{where} -> {response.status_code} {response.text[:300]}")
                elif response.status_code >= 400 and not _json_error(response):
                    bad_4xx.append(f"{where} -> {response.status_code} {response.text[:200]}")

            try:
                run()
            except Exception as exc:  # Unsatisfiable: an operation without parameters has no negative cases
                if type(exc).__name__ != "Unsatisfiable":
                    raise
        seconds[operation.label] = round(time.perf_counter() - op_started, 1)
    total = sum(statuses.values())
    elapsed = time.perf_counter() - started
    print(f"\nfuzz: {total} requests in {elapsed:.1f}s; statuses {dict(sorted(statuses.items()))}")
    print(f"slowest operations (s): {seconds.most_common(6)}")
    assert server_errors == []
    assert bad_4xx == []
    assert total >= MIN_REQUESTS
