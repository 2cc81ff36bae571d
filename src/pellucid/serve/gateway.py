"""The logging gateway behind ``/v1``: serve a model call, time it, and log it exactly once.

A call goes through three steps, each a method here so the route functions stay thin:

1. :meth:`Gateway.begin` creates the :class:`Call` — its record id (returned to the client
   at once, in the ``X-Pellucid-Record-Id`` header, so feedback can follow), the start time,
   and who asks (the OpenAI ``user`` field or ``X-Pellucid-User``, ``X-Pellucid-Session``,
   tags from ``X-Pellucid-Tags``, the OpenAI ``metadata`` object).
2. :meth:`Gateway.prepare` picks the model from the pool and either finds the answer in the
   exact-match cache or starts a :class:`~pellucid.models.streaming.TokenStream` — queued in the
   model's continuous-batching engine (``settings.batching``, the default; a full queue is a 429
   with ``Retry-After``) or generated in a thread of its own. Errors
   (unknown model, prompt too long...) are raised before any byte of the answer is sent.
3. The answer is consumed (:meth:`Gateway.complete`, or the route's event stream), and
   :meth:`Call.finish` hands one record to the monitor's batched writer: it only queues, so the
   response is never held up by the database. ``finish`` is idempotent; every path (success,
   error, a client that disconnects mid-stream) ends in exactly one call to it. In durable mode
   (:attr:`Call.durable`) ``finish`` returns once the record is synced to the local journal, and
   the routes call it before the answer's last byte (a stream's ``data: [DONE]``).

The cache is opt-in per request (``X-Pellucid-Cache: 1`` or ``"cache": true`` in the body) and
applies to deterministic calls only (``temperature == 0``): the key hashes the endpoint, model,
model version, prompt-template version, prompt, ``max_tokens`` and ``stop``. Deterministic
calls store their key even without the opt-in, so a later cached call can reuse them. A stored
answer whose response was changed by PII redaction is never served from the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from pellucid.errors import InvalidInputError
from pellucid.monitor.errors import StoreBusyError
from pellucid.monitor.records import StoredRecord, new_id
from pellucid.monitor.sdk import Monitor
from pellucid.monitor.writer import Redactor
from pellucid.service import ModelPool
from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.models import LM
    from pellucid.models.streaming import TokenStream

log = logging.getLogger(__name__)

USER_HEADER = "X-Pellucid-User"
SESSION_HEADER = "X-Pellucid-Session"
TAGS_HEADER = "X-Pellucid-Tags"
CACHE_HEADER = "X-Pellucid-Cache"
RECORD_HEADER = "X-Pellucid-Record-Id"
_MAX_ID = 200  # longest user / session id / tag (the store's column size)
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Sampling:
    """The sampling parameters of one call (``max_tokens=None``: until the end token or the context is full)."""

    max_tokens: int | None
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]

    @property
    def deterministic(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": list(self.stop),
        }


@dataclass
class Outcome:
    """What a finished call produced."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Call:
    """One ``/v1`` call being served: everything its record will hold. Logged once by :meth:`finish`."""

    monitor: Monitor | None
    endpoint: str
    prompt: str | list[dict[str, Any]]
    started: float = field(default_factory=time.perf_counter)
    created: int = field(default_factory=lambda: int(time.time()))
    record_id: str = field(default_factory=new_id)
    fields: dict[str, Any] = field(default_factory=dict)
    gateway: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    redactor: Redactor | None = None
    first_token_at: float | None = None
    _logged: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def headers(self) -> dict[str, str]:
        """Response headers naming the record (none without a store: nothing is logged)."""
        return {RECORD_HEADER: self.record_id} if self.monitor is not None else {}

    @property
    def logged(self) -> bool:
        return self._logged

    @property
    def durable(self) -> bool:
        """Whether :meth:`finish` journals the record to disk (durable mode) before it returns."""
        return self.monitor is not None and self.monitor.journal is not None

    def first_token(self, at: float | None = None) -> None:
        """Mark the arrival of the first token (later calls are ignored)."""
        if self.first_token_at is None:
            self.first_token_at = at if at is not None else time.perf_counter()

    def finish(
        self,
        outcome: Outcome | None = None,
        *,
        error: str | None = None,
        status: int = 200,
        response: str | None = None,
    ) -> None:
        """Queue this call's record (only the first call does anything). Never raises."""
        with self._lock:
            if self._logged:
                return
            self._logged = True
        if self.monitor is None:
            return
        ended = time.perf_counter()
        fields = dict(self.fields)
        fields["latency_ms"] = (ended - self.started) * 1000
        if self.first_token_at is not None:
            fields["ttft_ms"] = (self.first_token_at - self.started) * 1000
        gateway = {**self.gateway, "endpoint": self.endpoint, "status": status}
        if outcome is not None:
            response = outcome.text
            fields.update(prompt_tokens=outcome.prompt_tokens, completion_tokens=outcome.completion_tokens)
            gateway["finish_reason"] = outcome.finish_reason
        metadata = dict(self.metadata)
        if self.redactor is not None:
            error, metadata, found = self._redacted(self.redactor, error, metadata)
            if found:
                gateway["redacted"] = found
        metadata["gateway"] = gateway
        try:
            self.monitor.log(self.prompt, response, id=self.record_id, error=error, metadata=metadata, **fields)
        except Exception as exc:  # the answer is already out: report, never fail the call for it
            log.error("Monitoring record %s of a %s call was not logged: %s", self.record_id, self.endpoint, exc)

    @staticmethod
    def _redacted(
        redactor: Redactor, error: str | None, metadata: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
        """The error and the client's metadata values redacted (the writer redacts prompt and response)."""
        found: dict[str, Any] = {}
        if error is not None:
            error, counts = redactor(error)
            if counts:
                found["error"] = counts
        cleaned: dict[str, Any] = {}
        for key, value in metadata.items():
            if isinstance(value, str):
                value, counts = redactor(value)
                for kind, n in counts.items():
                    found.setdefault("metadata", {})[kind] = found.get("metadata", {}).get(kind, 0) + n
            cleaned[key] = value
        return error, cleaned, found


@dataclass
class Job:
    """A prepared call: the model, and either a cached record or a token stream to consume."""

    call: Call
    model: str
    lm: LM
    sampling: Sampling
    stream: TokenStream | None = None
    cached: StoredRecord | None = None
    #: set when a streamed answer begins (a stream the client left before it began is logged apart)
    started: bool = False


class Gateway:
    """Serves ``/v1`` calls from a model pool and logs them through ``monitor`` (if any)."""

    def __init__(self, settings: Settings, pool: ModelPool, monitor: Monitor | None, redactor: Redactor | None) -> None:
        self.settings = settings
        self.pool = pool
        self.monitor = monitor
        self.redactor = redactor

    @property
    def durable(self) -> bool:
        """Whether records are journaled to disk before ``Call.finish`` returns (run it off the event loop)."""
        return self.monitor is not None and self.monitor.journal is not None

    # -- step 1 ----------------------------------------------------------------------------
    def begin(
        self,
        request: Request,
        endpoint: str,
        prompt: str | list[dict[str, Any]],
        *,
        model: str | None,
        user: str | None = None,
        metadata: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        cache: bool | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Call:
        """Start a call: its id, start time, and who asks (headers win over the body's ``user``)."""
        headers = request.headers
        fields: dict[str, Any] = {
            "model": (model or self.settings.default_model)[:_MAX_ID],
            "user_id": _clip(headers.get(USER_HEADER) or user),
            "session_id": _clip(headers.get(SESSION_HEADER)),
            "tags": [t[:_MAX_ID] for t in _split_tags(headers.get(TAGS_HEADER))],
            "params": params or {},
            "cache_hit": False,
        }
        call = Call(self.monitor, endpoint, prompt, fields=fields, metadata=dict(metadata or {}))
        call.redactor = self.redactor
        header_cache = headers.get(CACHE_HEADER)
        call.gateway["cache_requested"] = bool(cache) or (header_cache or "").strip().lower() in _TRUE
        if extra:
            call.gateway.update(extra)
        return call

    @staticmethod
    def check_headers(request: Request) -> None:
        """Reject over-long identity headers (they would not fit the store's columns)."""
        for name in (USER_HEADER, SESSION_HEADER):
            value = request.headers.get(name)
            if value is not None and len(value) > _MAX_ID:
                raise InvalidInputError(f"{name} is {len(value)} characters long; at most {_MAX_ID} are allowed.")
        for tag in _split_tags(request.headers.get(TAGS_HEADER)):
            if len(tag) > _MAX_ID:
                raise InvalidInputError(
                    f"The tag {tag[:40]!r}... in {TAGS_HEADER} is longer than {_MAX_ID} characters; shorten it."
                )

    # -- step 2 ----------------------------------------------------------------------------
    def prepare(self, call: Call, prompt: str | list[dict[str, str]], sampling: Sampling, *, chat: bool) -> Job:
        """Resolve the model and start the answer (or find it in the cache). Raises on bad input."""
        self._check_room()
        self._check_length(prompt)
        name = call.fields["model"]
        lm = self.pool.get(name)
        call.fields["model_version"] = lm.version
        call.fields["template_version"] = lm.template_version if chat else "raw"
        if sampling.deterministic:
            call.fields["cache_key"] = self.cache_key(call.endpoint, name, lm, prompt, sampling, chat=chat)
        job = Job(call, name, lm, sampling)
        if call.gateway.get("cache_requested"):
            job.cached = self._lookup(call)
        if job.cached is None:
            source = self.pool.engine(name) if self.settings.batching else lm  # both take the same arguments
            job.stream = source.stream(
                prompt,
                chat=chat,
                max_new_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                seed=sampling.seed,
                stop=sampling.stop,
                budget_name="max_tokens",
            )
        return job

    def _check_length(self, prompt: str | list[dict[str, str]]) -> None:
        """Refuse prompts longer than ``settings.max_prompt_chars`` (all messages together)."""
        limit = self.settings.max_prompt_chars
        size = len(prompt) if isinstance(prompt, str) else sum(len(m.get("content") or "") for m in prompt)
        if size > limit:
            raise InvalidInputError(
                f"The prompt is {size} characters long; this server accepts at most {limit} "
                "(PELLUCID_MAX_PROMPT_CHARS). Shorten it."
            )

    def _check_room(self) -> None:
        if self.monitor is None:
            return
        writer = self.monitor.writer
        stats = writer.stats()
        if stats.queued >= writer.max_queue:
            raise StoreBusyError(
                f"The monitoring writer's queue is full ({writer.max_queue} records waiting for the database); "
                "retry in a moment" + (f" (last database error: {stats.last_error})." if stats.last_error else ".")
            )

    @staticmethod
    def cache_key(
        endpoint: str, model: str, lm: LM, prompt: str | list[dict[str, str]], sampling: Sampling, *, chat: bool
    ) -> str:
        """SHA-256 of everything that determines a greedy answer."""
        identity = {
            "endpoint": endpoint,
            "model": model,
            "model_version": lm.version,
            "template_version": lm.template_version if chat else "raw",
            "prompt": prompt,
            "max_tokens": sampling.max_tokens,
            "stop": list(sampling.stop),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def _lookup(self, call: Call) -> StoredRecord | None:
        key = call.fields.get("cache_key")
        if key is None:
            call.gateway["cache"] = "not used: only deterministic calls (temperature 0) are cached"
            return None
        if self.monitor is None:
            call.gateway["cache"] = "not used: no monitoring store"
            return None
        found = self.monitor.repo.find_cached(key)
        if found is not None and (found.redaction or {}).get("response"):
            call.gateway["cache"] = "miss: the stored response was redacted"
            return None
        if found is None:
            call.gateway["cache"] = "miss"
            return None
        call.gateway["cache"] = "hit"
        call.gateway["cached_from"] = found.id
        call.fields["cache_hit"] = True
        return found

    # -- step 3 ----------------------------------------------------------------------------
    def complete(self, job: Job) -> Outcome:
        """Consume the whole answer (non-streamed calls) and log the call."""
        outcome = self.consume(job)
        job.call.finish(outcome)
        return outcome

    def consume(self, job: Job) -> Outcome:
        if job.cached is not None:
            job.call.first_token()
            return cached_outcome(job.cached)
        assert job.stream is not None
        text = "".join(job.stream)
        if job.stream.first_token_at is not None:
            job.call.first_token(job.stream.first_token_at)
        return outcome_of(job.stream, text)


def cached_outcome(record: StoredRecord) -> Outcome:
    """The answer a cached record holds, as the original call reported it."""
    finish = (record.metadata.get("gateway") or {}).get("finish_reason", "stop")
    return Outcome(record.response or "", finish, record.prompt_tokens or 0, record.completion_tokens or 0)


def outcome_of(stream: TokenStream, text: str) -> Outcome:
    return Outcome(text, stream.finish_reason or "length", stream.prompt_tokens, len(stream.token_ids))


def _clip(value: str | None) -> str | None:
    return None if value is None else value[:_MAX_ID]


def _split_tags(header: str | None) -> list[str]:
    return [t.strip() for t in (header or "").split(",") if t.strip()]
