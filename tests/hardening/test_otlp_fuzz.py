"""``POST /v1/traces`` fuzzed: schemathesis over the OTLP/JSON shape, and every cut of a valid protobuf.

The route reads its body itself (OTLP's JSON or protobuf, gzip or not), so the app's OpenAPI
document has no body schema for it; the fuzz gives schemathesis one — the OTLP/JSON
``ExportTraceServiceRequest`` with the attribute keys of the GenAI conventions and
OpenInference — and runs positive (well-formed) and negative (schema-violating) cases against
the in-process app. Then each prefix of a valid protobuf export, and of its gzip, is sent.
Properties: no 5xx, and every 4xx has a JSON ``{"error": ...}`` body.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.hardening.test_fuzz import _json_error, _schemathesis

KEYS = ["gen_ai.operation.name", "gen_ai.request.model", "gen_ai.input.messages", "gen_ai.output.messages",
        "gen_ai.usage.input_tokens", "openinference.span.kind", "llm.model_name", "input.value", "output.value",
        "llm.input_messages.0.message.content", "session.id", "gen_ai.retrieval.documents"]  # fmt: skip
HEX = {"type": "string", "pattern": "^[0-9a-f]*$", "maxLength": 34}
VALUE = {
    "type": "object",
    "properties": {
        "stringValue": {"type": "string", "maxLength": 200},
        "intValue": {"type": ["string", "integer"]},
        "doubleValue": {"type": "number"},
        "boolValue": {"type": "boolean"},
        "arrayValue": {"type": "object", "properties": {"values": {"type": "array", "maxItems": 3}}},
    },
}
SPAN = {
    "type": "object",
    "required": ["traceId", "spanId", "name"],
    "properties": {
        "traceId": HEX, "spanId": HEX, "parentSpanId": HEX, "name": {"type": "string", "maxLength": 40},
        "kind": {"type": "integer"},
        "startTimeUnixNano": {"type": ["string", "integer"]}, "endTimeUnixNano": {"type": ["string", "integer"]},
        "attributes": {"type": "array", "maxItems": 8, "items": {
            "type": "object", "required": ["key", "value"],
            "properties": {"key": {"enum": KEYS}, "value": VALUE}}},
        "events": {"type": "array", "maxItems": 2},
        "status": {"type": "object"},
    },
}  # fmt: skip
EXPORT = {
    "type": "object",
    "properties": {
        "resourceSpans": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
            "resource": {"type": "object"},
            "scopeSpans": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
                "spans": {"type": "array", "maxItems": 4, "items": SPAN}}}}}}},
    },
}  # fmt: skip
DOC = {
    "openapi": "3.0.3",
    "info": {"title": "OTLP receiver", "version": "1"},
    "paths": {
        "/v1/traces": {
            "post": {
                "requestBody": {"required": True, "content": {"application/json": {"schema": EXPORT}}},
                "responses": {"200": {"description": "ExportTraceServiceResponse"}},
            }
        }
    },
}
VALID = {
    "resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "00f067aa0ba902b7", "name": "llm", "kind": 3,
        "startTimeUnixNano": "1764900000000000000", "endTimeUnixNano": "1764900000250000000",
        "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "LLM"}},
                       {"key": "input.value", "value": {"stringValue": "Hi"}},
                       {"key": "output.value", "value": {"stringValue": "Hello!"}}]}]}]}],
}  # fmt: skip


@pytest.mark.slow
def test_otlp_receiver_fuzz_no_5xx_and_json_4xx(hardened):
    schemathesis = _schemathesis()
    from hypothesis import HealthCheck, Phase, given, settings

    gw = hardened()
    schema = schemathesis.openapi.from_dict(DOC)
    schema.app = gw.app
    operation = next(iter(schema.get_all_operations())).ok()
    statuses: Counter[int] = Counter()
    problems: list[str] = []

    def check(status: int, where: str, response: Any) -> None:
        statuses[status] += 1
        if status >= 500 or (status >= 400 and not _json_error(response)):
            problems.append(f"{where} -> {status} {response.text[:300]}")

    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=150, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(case: Any) -> None:
            response = case.call(timeout=30)
            check(response.status_code, f"{case.body!r:.300}", response)

        run()
    proto = json_format.ParseDict(_base64_ids(VALID), ExportTraceServiceRequest()).SerializeToString()
    for payload, encoding in ((proto, None), (gzip.compress(proto), "gzip")):
        for cut in range(len(payload) + 1):
            headers = {"Content-Type": "application/x-protobuf", **({"Content-Encoding": encoding} if encoding else {})}
            response = gw.client.post("/v1/traces", content=payload[:cut], headers=headers)
            check(response.status_code, f"{encoding or 'raw'} protobuf cut at {cut}/{len(payload)}", response)
    print(f"\nOTLP fuzz: {sum(statuses.values())} requests; statuses {dict(sorted(statuses.items()))}")
    assert problems == []
    assert statuses[200] > 0 and statuses[400] > 0  # both valid and refused payloads were exercised


def _base64_ids(tree: dict[str, Any]) -> dict[str, Any]:
    """Protobuf's JSON mapping writes bytes as base64; OTLP/JSON writes ids as hex."""
    import base64

    tree = json.loads(json.dumps(tree))
    for span in tree["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId"):
            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return tree
