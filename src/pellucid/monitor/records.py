"""Plain data going in and out of the monitoring store: no SQL, no I/O.

- :class:`NewRecord` is one logged call as the SDK or the gateway builds it.
- :class:`StoredRecord` and :class:`FeedbackEntry` are what the repository returns.
- :class:`RecordFilter` selects records (time range, versions, tag, flag, feedback, text) for
  listing, counting, metric series, drift windows and exports alike.

Ids are client-generated UUIDs in the version-7 layout: 48 bits of Unix milliseconds followed by
random bits. Many gateway replicas can create them without talking to each other, a retried
insert carries the same id (so it can be ignored instead of duplicated), and ids created later
sort later, which keeps database index inserts at the right-hand edge of the B-tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pellucid.errors import InvalidInputError

#: A prompt: plain text, or OpenAI-style chat messages (``[{"role": ..., "content": ...}]``).
Prompt = str | list[dict[str, Any]]

#: Kinds of human feedback and the value a thumbs kind stands for when none is given.
FEEDBACK_KINDS = ("thumbs_up", "thumbs_down", "score", "comment")
THUMB_VALUES = {"thumbs_up": 1.0, "thumbs_down": -1.0}

#: Values accepted by ``RecordFilter.feedback``: a kind, or ``any`` / ``none``.
FEEDBACK_FILTERS = (*FEEDBACK_KINDS, "any", "none")


def new_id() -> str:
    """A fresh time-ordered UUID (version 7 layout) as a 36-character string."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def prompt_to_text(prompt: Prompt) -> str:
    """The text of a prompt: itself, or the contents of its messages joined by blank lines.

    Message contents may be strings or OpenAI "content parts" (``{"type": "text", "text": ...}``);
    non-text parts are skipped.
    """
    if isinstance(prompt, str):
        return prompt
    parts: list[str] = []
    for message in prompt:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\n\n".join(parts)


def prompt_hash(prompt: Prompt) -> str:
    """SHA-256 (hex) of the exact prompt: equal hashes mean byte-identical prompts."""
    data = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def check_prompt(prompt: Any) -> Prompt:
    """Return ``prompt`` if it is text or a list of message dicts; raise otherwise."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(m, Mapping) for m in prompt):
        return [dict(m) for m in prompt]
    raise InvalidInputError(
        f"prompt must be a string or a list of chat messages like [{{'role': 'user', 'content': '...'}}], "
        f"got {type(prompt).__name__}: {prompt!r:.80}."
    )


@dataclass(slots=True)
class NewRecord:
    """One model call to store. Only ``prompt`` is required; ids and times fill themselves.

    Attributes:
        prompt: text, or chat messages as sent to the model.
        response: the model's answer (``None`` when the call failed; see ``error``).
        model / model_version / template_version: what answered, and with which prompt template.
        latency_ms / ttft_ms: total time and time to the first token, in milliseconds.
        prompt_tokens / completion_tokens: token counts.
        params: sampling parameters (temperature, top_p, max_tokens...).
        user_id / session_id: who asked, in which conversation (``purge`` deletes by user).
        trace_id / span_id / parent_span_id: the call's OpenTelemetry span, when it arrived as one.
        tags: labels to filter on (``"canary"``, ``"experiment-b"``).
        metadata: anything else, JSON-serialisable.
        cache_hit / cache_key: whether an exact-match cache answered, and the key it used.
        redaction: what PII redaction changed before storage (``None``: not applied).
        flags: data-quality flags, name to a short explanation (see ``pellucid.monitor.quality``).
        language: a guess of the prompt's language or script (``"en"``, ``"cyrillic"``...).
        error: why the call failed, if it did.
        id / created_at: generated unless given (a retry must reuse the id).
    """

    prompt: Prompt
    response: str | None = None
    model: str | None = None
    model_version: str | None = None
    template_version: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    session_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    cache_hit: bool | None = None
    cache_key: str | None = None
    redaction: dict[str, Any] | None = None
    flags: dict[str, str] = field(default_factory=dict)
    language: str | None = None
    error: str | None = None
    id: str = field(default_factory=new_id)
    created_at: datetime = field(default_factory=utcnow)
    #: SHA-256 of the prompt, filled by the writer (computed at insert when missing).
    prompt_hash: str | None = None

    #: Names a caller may set by keyword (``monitor.log(prompt, response, user_id=...)``).
    FIELDS = frozenset(
        "response model model_version template_version latency_ms ttft_ms prompt_tokens completion_tokens params "
        "user_id session_id trace_id span_id parent_span_id tags metadata cache_hit "
        "cache_key redaction flags language error id created_at".split()
    )

    @property
    def prompt_text(self) -> str:
        return prompt_to_text(self.prompt)


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    """One piece of human feedback on a record."""

    id: str
    record_id: str
    kind: str
    value: float | None
    comment: str | None
    user_id: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "record_id": self.record_id,
            "kind": self.kind,
            "value": self.value,
            "comment": self.comment,
            "user_id": self.user_id,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as read back, with its tags, and (from ``get_record``) feedback and metrics."""

    id: str
    created_at: datetime
    prompt: Prompt
    prompt_text: str
    prompt_hash: str
    response: str | None
    model: str | None
    model_version: str | None
    template_version: str | None
    latency_ms: float | None
    ttft_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    params: dict[str, Any]
    user_id: str | None
    session_id: str | None
    tags: tuple[str, ...]
    metadata: dict[str, Any]
    cache_hit: bool | None
    cache_key: str | None
    redaction: dict[str, Any] | None
    flags: dict[str, str]
    language: str | None
    error: str | None
    feedback: tuple[FeedbackEntry, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601 strings with ``+00:00``)."""
        data = {name: getattr(self, name) for name in self.__slots__}
        data["created_at"] = self.created_at.isoformat()
        data["tags"] = list(self.tags)
        data["feedback"] = [f.to_dict() for f in self.feedback]
        return data


@dataclass(frozen=True)
class RecordFilter:
    """Which records to look at. Every field is optional; given fields are combined with AND.

    Attributes:
        since / until: ``since <= created_at < until`` (naive datetimes are read as UTC).
        model / model_version / template_version / user_id / session_id / trace_id: exact matches.
        tag: records carrying this tag.
        flag: records carrying this data-quality flag (``"empty_prompt"``...).
        feedback: a feedback kind (``thumbs_up``...), ``any`` (some feedback) or ``none``.
        text: case-insensitive substring of the prompt text or the response.
        cache_hit: only cache hits (``True``) or misses (``False``).
        feature: ``DICTIONARY:LATENT``: records whose stored features of that dictionary include the
            latent (``pellucid features enrich``; see :func:`parse_feature_filter`).
    """

    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    model_version: str | None = None
    template_version: str | None = None
    tag: str | None = None
    flag: str | None = None
    feedback: str | None = None
    text: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    cache_hit: bool | None = None
    trace_id: str | None = None
    feature: str | None = None

    def __post_init__(self) -> None:
        if self.feature is not None:
            parse_feature_filter(self.feature)
        if self.feedback is not None and self.feedback not in FEEDBACK_FILTERS:
            raise InvalidInputError(
                f"Unknown feedback filter: {self.feedback!r}. Available: {', '.join(FEEDBACK_FILTERS)}."
            )
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, datetime):
                    raise InvalidInputError(f"{name} must be a datetime, got {value!r}.")
                object.__setattr__(self, name, as_utc(value))
        if self.since and self.until and self.since > self.until:
            raise InvalidInputError(
                f"since ({self.since.isoformat()}) is after until ({self.until.isoformat()}); swap them."
            )


def parse_feature_filter(spec: str) -> tuple[str, int]:
    """``"sae:123"`` -> ``("sae", 123)``: a dictionary's name and one of its latents."""
    name, sep, latent = str(spec).rpartition(":")
    if not sep or not name or not latent.isdigit():
        raise InvalidInputError(
            f"Invalid feature filter {spec!r}; give the dictionary's name and a latent as NAME:ID, e.g. sae:123."
        )
    return name, int(latent)


@dataclass(frozen=True)
class Page:
    """One page of records, newest first by default.

    ``next_cursor`` is an opaque string to pass back as ``cursor=`` for the following page
    (``None`` on the last page). ``total`` is filled only when asked for (it costs a count).
    """

    items: list[StoredRecord]
    next_cursor: str | None = None
    total: int | None = None


@dataclass(frozen=True)
class SeriesPoint:
    """A metric aggregated over one time bucket (and one group, e.g. a model version)."""

    bucket_start: datetime
    group: str | None
    count: int
    mean: float | None
    min: float | None
    max: float | None
    p50: float | None = None  # the median and the 95th percentile, when asked for
    p95: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket_start": self.bucket_start.isoformat(),
            "group": self.group,
            "count": self.count,
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
            "p50": self.p50,
            "p95": self.p95,
        }
