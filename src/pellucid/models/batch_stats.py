"""What a :class:`~pellucid.models.batching.BatchEngine` reports: queue, batch, time to first token, tokens/s.

:class:`EngineStats` is updated by the scheduler thread only (plain counters and bounded deques);
:meth:`EngineStats.snapshot` turns it into an :class:`EngineMetrics`, the plain record the server's
``/api/serving`` route returns. Throughput is measured over the last ``window`` seconds of decode
and prefill passes (tokens produced divided by the time since the oldest of those passes began), so
it falls back to 0 when the model has been idle for a window. Time to first token is measured from
the moment a request was queued, over the last ``keep`` requests.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EngineMetrics:
    """One model's serving figures at one moment (``None``: nothing measured yet)."""

    model: str
    max_batch: int
    max_queue: int
    queued: int
    running: int
    served: int
    cancelled: int
    rejected: int
    generated_tokens: int
    tokens_per_s: float
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EngineStats:
    """Counters and recent timings of one engine (written by its scheduler thread)."""

    window: float = 10.0
    keep: int = 512
    served: int = 0
    cancelled: int = 0
    rejected: int = 0
    generated_tokens: int = 0
    _steps: deque[tuple[float, float, int]] = field(default_factory=deque)  # (start, end, tokens)
    _ttft: deque[float] = field(default_factory=deque)
    _durations: deque[float] = field(default_factory=lambda: deque(maxlen=64))

    def step(self, started: float, tokens: int) -> None:
        """A forward pass that began at ``started`` produced ``tokens`` tokens."""
        now = time.perf_counter()
        self.generated_tokens += tokens
        self._steps.append((started, now, tokens))
        while self._steps and self._steps[0][1] < now - self.window:
            self._steps.popleft()

    def first_token(self, seconds: float) -> None:
        self._ttft.append(seconds)
        if len(self._ttft) > self.keep:
            self._ttft.popleft()

    def ended(self, seconds: float) -> None:
        """A request left the batch ``seconds`` after it was queued."""
        self._durations.append(seconds)

    def retry_after(self, queued: int, max_batch: int) -> int:
        """Whole seconds until a slot is likely free: queued batches times the recent request duration."""
        durations = list(self._durations)
        typical = sum(durations) / len(durations) if durations else 1.0
        return max(1, math.ceil(typical * (1 + queued // max_batch)))

    def tokens_per_s(self) -> float:
        now = time.perf_counter()
        recent = [s for s in list(self._steps) if s[1] >= now - self.window]
        if not recent:
            return 0.0
        span = max(now - recent[0][0], 1e-6)
        return sum(s[2] for s in recent) / span

    def snapshot(self, model: str, max_batch: int, max_queue: int, queued: int, running: int) -> EngineMetrics:
        ttft = sorted(self._ttft)
        return EngineMetrics(
            model=model,
            max_batch=max_batch,
            max_queue=max_queue,
            queued=queued,
            running=running,
            served=self.served,
            cancelled=self.cancelled,
            rejected=self.rejected,
            generated_tokens=self.generated_tokens,
            tokens_per_s=round(self.tokens_per_s(), 3),
            ttft_p50_ms=_percentile(ttft, 0.5),
            ttft_p95_ms=_percentile(ttft, 0.95),
        )


def _percentile(ordered: list[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank) of sorted seconds, in milliseconds."""
    if not ordered:
        return None
    rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return round(ordered[rank] * 1000, 3)
