"""LLM spans as monitoring records: the OpenTelemetry GenAI conventions and OpenInference, mapped.

An instrumented application describes each model call as a span. Two vocabularies are read:

- **GenAI semantic conventions** (``opentelemetry-instrumentation-openai-v2`` and others):
  ``gen_ai.operation.name``, ``gen_ai.request.model`` / ``gen_ai.response.model``,
  ``gen_ai.usage.input_tokens`` / ``output_tokens`` (older: ``prompt_tokens`` /
  ``completion_tokens``), ``gen_ai.request.temperature`` ..., ``gen_ai.conversation.id``. Content
  comes, newest first, from ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON, one
  ``parts`` list per message) with ``gen_ai.system_instructions``; from the events
  ``gen_ai.{system,user,assistant,tool}.message`` and ``gen_ai.choice``; from the
  ``gen_ai.content.prompt`` / ``gen_ai.content.completion`` events; or from indexed
  ``gen_ai.prompt.N.role`` / ``.content`` attributes.
- **OpenInference** (Phoenix, ``openinference-instrumentation-*``): ``openinference.span.kind``,
  ``llm.model_name``, ``llm.input_messages.N.message.role`` / ``.content``,
  ``llm.output_messages.N.message.content``, ``input.value`` / ``output.value``,
  ``llm.token_count.prompt`` / ``.completion``, ``session.id``, ``user.id``.

A span is an *LLM span* when it names a model call (a GenAI operation other than retrieval,
tools or agents; or OpenInference kind ``LLM`` / ``EMBEDDING``). It needs a model and a prompt or
a response, else it is rejected with the reason. Every other span of the same trace is
*context*: listed in the record's ``metadata.otel.context_spans``, and retrieved documents
(``gen_ai.retrieval.documents``, ``retrieval.documents.N.document.content``) become
``metadata.context``, the field the groundedness check reads.

A record's id is derived from its trace and span ids, so an exporter that retries a batch
never stores a call twice.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict, defaultdict
from datetime import UTC, datetime
from typing import Any

from pellucid.serve.otlp_decode import Span

_LLM_OPERATIONS = {"chat", "text_completion", "generate_content", "embeddings"}
_CONTEXT_OPERATIONS = {"retrieval", "execute_tool", "invoke_agent", "create_agent"}
_PARAMS = {
    "gen_ai.request.temperature": "temperature",
    "gen_ai.request.top_p": "top_p",
    "gen_ai.request.max_tokens": "max_tokens",
    "gen_ai.request.seed": "seed",
    "gen_ai.request.stop_sequences": "stop",
    "gen_ai.request.stream": "stream",
}
_NAMESPACE = uuid.UUID("5b1f0c3e-7d1a-4f7e-9a57-0f3e5d1c2b4a")  # fixed: ids must not change between versions
_MAX_CONTEXT = 50_000  # characters of retrieved text kept per record


class Rejected(ValueError):
    """An LLM span that cannot become a record (the message names the span and what is missing)."""


def is_llm_span(span: Span) -> bool:
    attrs = span.attributes
    operation = attrs.get("gen_ai.operation.name")
    if operation in _CONTEXT_OPERATIONS:
        return False
    if operation in _LLM_OPERATIONS or "gen_ai.request.model" in attrs:
        return True
    return str(attrs.get("openinference.span.kind", "")).upper() in ("LLM", "EMBEDDING")


#: What a JSON text can start with (after whitespace), and the texts that are a bare literal.
_JSON_STARTS = frozenset('{["-0123456789')
_JSON_LITERALS = frozenset({"true", "false", "null", "NaN", "Infinity"})


def _json(value: Any) -> Any:
    """``value`` parsed when it is a string holding JSON, else ``value`` unchanged.

    Most attribute strings are plain text: they are told apart by their first character (or by
    being a bare literal such as ``true``), since a failed ``json.loads`` (an exception built and
    raised) costs many times a successful one. The answer is the same as trying every string.
    """
    if isinstance(value, str):
        text = value.strip(" \t\n\r")
        if not text or (text[0] not in _JSON_STARTS and text not in _JSON_LITERALS):
            return value
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text_of(content: Any) -> str:
    """Text of a message's content: a string, OpenAI parts or GenAI ``parts`` (text ones only)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text":
                text = part.get("content", part.get("text"))
                pieces.append(text if isinstance(text, str) else "")
        return "".join(pieces)
    return "" if content is None else str(content)


def _genai_messages(value: Any) -> list[dict[str, str]]:
    messages = _json(value)
    if not isinstance(messages, list):
        return []
    out = []
    for m in messages:
        if isinstance(m, dict):
            content = m.get("parts") if "parts" in m else m.get("content")
            out.append({"role": str(m.get("role", "user")), "content": _text_of(content)})
    return out


def _indexed(attrs: dict[str, Any], prefix: str, role_key: str, content_key: str) -> list[dict[str, str]]:
    """``prefix.N.role`` / ``prefix.N.content`` attributes as messages, in index order."""
    start = prefix + "."  # called several times per span, mostly to find nothing: kept lean
    skip = len(start)
    found: dict[int, dict[str, str]] | None = None
    for key, value in attrs.items():
        if not key.startswith(start):
            continue
        index, _, rest = key[skip:].partition(".")
        if index.isdigit() and rest in (role_key, content_key):
            found = found if found is not None else defaultdict(dict)
            found[int(index)]["role" if rest == role_key else "content"] = _text_of(value)
    if not found:
        return []
    return [{"role": m.get("role", "user"), "content": m.get("content", "")} for _, m in sorted(found.items())]


def _event_messages(span: Span) -> tuple[list[dict[str, str]], str | None, str | None]:
    """Messages and the choice from GenAI span events (older conventions)."""
    messages: list[dict[str, str]] = []
    choice: str | None = None
    finish: str | None = None
    for event in span.events:
        attrs = event.attributes
        if event.name in (
            "gen_ai.system.message",
            "gen_ai.user.message",
            "gen_ai.assistant.message",
            "gen_ai.tool.message",
        ):
            role = event.name.split(".")[1]
            messages.append(
                {"role": role, "content": _text_of(_json(attrs.get("content", attrs.get("gen_ai.event.content"))))}
            )
        elif event.name == "gen_ai.choice":
            message = _json(attrs.get("message", attrs.get("gen_ai.event.content")))
            if isinstance(message, dict):
                finish = message.get("finish_reason", finish)
                message = message.get("message", message)
                choice = _text_of(message.get("content") if isinstance(message, dict) else message)
            finish = attrs.get("finish_reason", finish)
        elif event.name == "gen_ai.content.prompt" and "gen_ai.prompt" in attrs:
            prompt = _json(attrs["gen_ai.prompt"])
            messages = _genai_messages(prompt) or [{"role": "user", "content": _text_of(prompt)}]
        elif event.name == "gen_ai.content.completion" and "gen_ai.completion" in attrs:
            completion = _json(attrs["gen_ai.completion"])
            choice = (_genai_messages(completion) or [{"content": _text_of(completion)}])[0]["content"]
    return messages, choice, finish if isinstance(finish, str) else None


def _prompt(span: Span) -> tuple[str | list[dict[str, str]] | None, str | None, str | None]:
    """(prompt, response, finish reason) from the first vocabulary that has them."""
    attrs = span.attributes
    events, choice, finish = _event_messages(span)
    prompt: Any = _genai_messages(attrs.get("gen_ai.input.messages")) or events
    prompt = prompt or _indexed(attrs, "gen_ai.prompt", "role", "content")
    prompt = prompt or _indexed(attrs, "llm.input_messages", "message.role", "message.content")
    system = _text_of(_json(attrs.get("gen_ai.system_instructions"))) if "gen_ai.system_instructions" in attrs else ""
    if prompt and system:
        prompt = [{"role": "system", "content": system}, *prompt]
    if not prompt and isinstance(attrs.get("input.value"), str):
        parsed = _json(attrs["input.value"])
        prompt = _genai_messages(parsed.get("messages")) if isinstance(parsed, dict) else []
        prompt = prompt or attrs["input.value"]
    if not prompt and isinstance(attrs.get("gen_ai.prompt"), str):
        prompt = attrs["gen_ai.prompt"]
    output = _genai_messages(attrs.get("gen_ai.output.messages"))
    if output:
        choice = output[0]["content"]
        raw = _json(attrs["gen_ai.output.messages"])
        finish = finish or (raw[0].get("finish_reason") if isinstance(raw[0], dict) else None)
    for found in (
        _indexed(attrs, "gen_ai.completion", "role", "content"),
        _indexed(attrs, "llm.output_messages", "message.role", "message.content"),
    ):
        if choice is None and found:
            choice = found[0]["content"]
    if choice is None and isinstance(attrs.get("output.value"), str):
        choice = attrs["output.value"]
    if choice is None and isinstance(attrs.get("gen_ai.completion"), str):
        choice = attrs["gen_ai.completion"]
    reasons = attrs.get("gen_ai.response.finish_reasons")
    if finish is None and isinstance(reasons, list) and reasons:
        finish = str(reasons[0])
    return prompt or None, choice, finish


def _int(attrs: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _documents(span: Span) -> list[str]:
    """Retrieved documents' text (GenAI ``gen_ai.retrieval.documents`` or OpenInference)."""
    attrs = span.attributes
    docs = _json(attrs.get("gen_ai.retrieval.documents"))
    out = (
        [_text_of(d.get("content", d.get("text"))) for d in docs if isinstance(d, dict)]
        if isinstance(docs, list)
        else []
    )
    out += [
        m["content"] for m in _indexed(attrs, "retrieval.documents", "document.id", "document.content") if m["content"]
    ]
    return [d for d in out if d]


def record_id(span: Span) -> str:
    """A UUID fixed by the trace and span ids (a re-sent span maps to the same record)."""
    return str(uuid.uuid5(_NAMESPACE, f"{span.trace_id}:{span.span_id}"))


def _context(spans: list[Span]) -> dict[str, dict[str, Any]]:
    """Per trace: its non-LLM spans (listed) and the text of the documents they retrieved."""
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"spans": [], "documents": []})
    for span in spans:
        if is_llm_span(span):
            continue
        kind = span.attributes.get("gen_ai.operation.name") or span.attributes.get("openinference.span.kind")
        entry = {"name": span.name, "span_id": span.span_id, "parent_span_id": span.parent_span_id, "kind": kind,
                 "start_ms": span.start_ns / 1e6, "end_ms": span.end_ns / 1e6}  # fmt: skip
        out[span.trace_id]["spans"].append(entry)
        out[span.trace_id]["documents"].extend(_documents(span))
    return out


def _metadata(span: Span, finish: str | None, context: dict[str, Any] | None) -> dict[str, Any]:
    """``metadata.otel`` (span name, operation, provider, service, context spans) and ``metadata.context``."""
    attrs = span.attributes
    operation = attrs.get("gen_ai.operation.name")
    otel: dict[str, Any] = {"span_name": span.name, "operation": operation, "finish_reason": finish}
    otel["system"] = attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system") or attrs.get("llm.system")
    otel["service"] = span.resource.get("service.name")
    metadata: dict[str, Any] = {"otel": {k: v for k, v in otel.items() if v is not None}}
    if context and context["spans"]:
        metadata["otel"]["context_spans"] = context["spans"][:100]
    if context and context["documents"]:
        metadata["context"] = "\n\n".join(context["documents"])[:_MAX_CONTEXT]
    return metadata


def record_fields(span: Span, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``make_record(prompt, response, **fields)`` from one LLM span."""
    attrs = span.attributes
    model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model") or attrs.get("llm.model_name")
    where = f"span {span.name!r} ({span.span_id} in trace {span.trace_id})"
    if not isinstance(model, str) or not model:
        raise Rejected(f"{where} has no model (gen_ai.request.model, gen_ai.response.model or llm.model_name)")
    prompt, response, finish = _prompt(span)
    if prompt is None and response is None:
        raise Rejected(
            f"{where} carries no prompt or response content; enable content capture in the instrumentation "
            "(e.g. OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT)"
        )
    metadata = _metadata(span, finish, context)
    ttft = attrs.get("gen_ai.response.time_to_first_chunk")
    params = {name: attrs[key] for key, name in _PARAMS.items() if key in attrs}
    params["chat"] = isinstance(prompt, list)
    fields: dict[str, Any] = {
        "prompt": prompt if prompt is not None else "",
        "response": response,
        "id": record_id(span),
        "model": model[:200],
        "model_version": attrs.get("gen_ai.response.model")
        if isinstance(attrs.get("gen_ai.response.model"), str)
        else None,
        "created_at": datetime.fromtimestamp(span.start_ns / 1e9, UTC),
        "latency_ms": max(0, span.end_ns - span.start_ns) / 1e6 if span.end_ns else None,
        "ttft_ms": ttft * 1000 if isinstance(ttft, (int, float)) and ttft >= 0 else None,
        "prompt_tokens": _int(
            attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"
        ),
        "completion_tokens": _int(
            attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion"
        ),
        "params": params,
        "session_id": _str(attrs, "session.id", "gen_ai.conversation.id"),
        "user_id": _str(attrs, "user.id", "enduser.id"),
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "error": span.error or (str(attrs["error.type"]) if "error.type" in attrs else None),
        "metadata": metadata,
        "tags": ["otlp"],
    }
    return fields


def _str(attrs: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        if isinstance(attrs.get(key), str) and attrs[key]:
            return str(attrs[key])[:200]
    return None


class RecentContext:
    """The context spans of recent traces, so an LLM span exported in a later batch still finds them.

    Exporters send spans as they end, often one batch per span: a retrieval that ran before the
    model call arrives before it. The last ``max_traces`` traces are kept in memory (oldest
    dropped first). Context spans that end after the LLM span (the enclosing request span)
    arrive after its record was written and are not attached to it.
    """

    def __init__(self, max_traces: int = 10_000, max_spans: int = 100) -> None:
        self.max_traces = max_traces
        self.max_spans = max_spans
        self._traces: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def add(self, contexts: dict[str, dict[str, Any]]) -> None:
        for trace_id, found in contexts.items():
            entry = self._traces.pop(trace_id, None) or {"spans": [], "documents": []}
            entry["spans"] = (entry["spans"] + found["spans"])[: self.max_spans]
            entry["documents"] = (entry["documents"] + found["documents"])[: self.max_spans]
            self._traces[trace_id] = entry
        while len(self._traces) > self.max_traces:
            self._traces.popitem(last=False)

    def get(self, trace_id: str) -> dict[str, Any] | None:
        return self._traces.get(trace_id)


def map_spans(spans: list[Span], recent: RecentContext | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Record fields for every LLM span, and the reason each rejected span was rejected.

    With ``recent``, context spans of earlier batches of the same trace are attached too.
    """
    contexts: Any = _context(spans)
    if recent is not None:
        recent.add(contexts)
        contexts = recent
    records: list[dict[str, Any]] = []
    rejected: list[str] = []
    for span in spans:
        if not is_llm_span(span):
            continue
        try:
            records.append(record_fields(span, contexts.get(span.trace_id)))
        except Rejected as exc:
            rejected.append(str(exc))
    return records, rejected
