"""Continuous batching: one decode batch per served model, which requests join and leave at token boundaries.

Generating for one request at a time leaves most of a forward pass's work unshared: a decode step
over 16 rows costs little more than a step over one, because the weights are read once per step.
A :class:`BatchEngine` runs one scheduler thread per model that owns the running batch:

1. **Join.** Between two steps, waiting requests take the free slots (at most ``max_batch`` rows).
   Their prompts are prefilled together in one forward pass, right-padded so every real position
   computes what it would alone; each gets its first token from that pass at once (the time to first
   token does not wait for the others to finish), and its keys and values join the running rows
   (:mod:`pellucid.models.batch_rows`).
2. **Step.** One forward pass feeds every running row its last token, with an attention mask over
   each row's own positions and per-row position ids. Each row picks its next token with its own
   sampling parameters and its own ``torch.Generator`` (seeded per request, so a seed gives the same
   answer whatever else is in the batch; greedy rows take the argmax and equal unbatched greedy
   decoding token for token).
3. **Leave.** A row ends at an end-of-sequence token or its ``max_new_tokens``, or at once when its
   stream is cancelled (the client went away, or a stop string matched): the slot is free for the
   next step's joiners.

Each forward pass holds the model's **shared** lease and lets go between passes, so an explanation
that needs the exclusive lease (hooks) gets the model between two steps and a served row never runs
under a hook (:mod:`pellucid.models.lease`). Tokens reach the consumer through a
:class:`BatchedStream`, a :class:`~pellucid.models.streaming.TokenStream` fed by the engine instead
of a thread of its own (same text pieces, stop strings, finish reasons and timings).

The queue of waiting requests is bounded (``max_queue``): a request that finds it full gets
:class:`~pellucid.errors.ServerBusyError` at once, with a suggested wait, instead of queueing forever.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from pellucid.errors import InvalidInputError, ServerBusyError
from pellucid.models.batch_prefix import SharedPrefixes
from pellucid.models.batch_rows import Rows, pick_token, right_padded, rows_from_prefill
from pellucid.models.batch_stats import EngineMetrics, EngineStats
from pellucid.models.kv import cache_keyword, output_cache
from pellucid.models.streaming import _END, TokenStream

if TYPE_CHECKING:
    from pellucid.models.generation import Prompt
    from pellucid.models.lm import LM


class BatchedStream(TokenStream):
    """A :class:`~pellucid.models.streaming.TokenStream` whose tokens come from a :class:`BatchEngine`.

    The request is queued when the stream is made (so a full queue is refused before any answer is
    sent) and generation starts as soon as a slot is free, before iteration begins; closing or
    cancelling the stream frees its slot at the engine's next step.
    """

    def __init__(self, lm: LM, prompt_tokens: int, stop: Sequence[str], engine: BatchEngine) -> None:
        self._setup(lm, prompt_tokens, stop)
        self._thread = None
        self._engine = engine

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Leave the batch at the next step boundary; returns at once (safe from any thread)."""
        self._cancel.set()
        self._engine.wake()

    def deliver(self, token: int) -> None:
        """A new token (engine side)."""
        self._queue.put(token)

    def end(self, error: BaseException | None = None) -> None:
        """No more tokens (engine side); ``error`` is raised in the consuming thread."""
        if error is not None:
            self._error = error
        self._queue.put(_END)


@dataclass
class _Request:
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float
    top_p: float
    generator: torch.Generator | None
    stream: BatchedStream
    submitted: float = field(default_factory=time.perf_counter)
    generated: int = 0
    last: int = -1


class BatchEngine:
    """The continuous-batching scheduler of one model (see the module docstring).

    Args:
        lm: the model to serve.
        max_batch: most rows decoded together (requests running at once).
        max_queue: most requests waiting for a slot; one more gets :class:`ServerBusyError`.
    """

    def __init__(self, lm: LM, *, max_batch: int = 16, max_queue: int = 64) -> None:
        if max_batch < 1:
            raise InvalidInputError(f"max_batch={max_batch}; it must be at least 1 (PELLUCID_MAX_BATCH).")
        if max_queue < 0:
            raise InvalidInputError(f"max_queue={max_queue}; it must be 0 or more (PELLUCID_MAX_QUEUE).")
        self.lm = lm
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.stats = EngineStats()
        self._eos = set(lm.stop_token_ids())
        self._pad = _pad_id(lm)
        self._cond = threading.Condition()
        self._waiting: deque[_Request] = deque()
        self._running: list[_Request] = []
        self._joining: list[_Request] = []  # admitted, being prefilled (they hold their slots)
        self._rows = Rows([], [])
        self._prefixes = SharedPrefixes()
        self._stopped = False
        self._thread: threading.Thread | None = None

    # -- requests ------------------------------------------------------------------------
    def stream(
        self,
        prompt: Prompt,
        *,
        chat: bool | None = None,
        system: str | None = None,
        max_new_tokens: int | None = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: Sequence[str] = (),
        budget_name: str = "max_new_tokens",
    ) -> BatchedStream:
        """Queue a generation; the arguments are those of :meth:`LM.stream <pellucid.models.lm.LM.stream>`.

        Raises :class:`~pellucid.errors.ServerBusyError` when ``max_queue`` requests already wait.
        """
        ids, budget = self.lm.plan_stream(
            prompt, chat=chat, system=system, max_new_tokens=max_new_tokens,
            temperature=temperature, top_p=top_p, budget_name=budget_name,
        )  # fmt: skip
        generator = None
        if temperature > 0:
            generator = torch.Generator(device=self.lm.device)
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
        stream = BatchedStream(self.lm, len(ids), stop, self)
        self._submit(_Request(ids, budget, temperature, top_p, generator, stream))
        return stream

    def _submit(self, request: _Request) -> None:
        with self._cond:
            if self._stopped:
                raise ServerBusyError(f"The batching engine of {self.lm.name} is shut down; retry on a running server.")
            if len(self._waiting) >= self.max_queue + max(0, self.max_batch - self._taken()):
                self.stats.rejected += 1
                wait = self.stats.retry_after(len(self._waiting), self.max_batch)
                raise ServerBusyError(
                    f"{self.lm.name} is busy: {self._taken()} requests are generating and {len(self._waiting)} "
                    f"wait (the queue holds at most {self.max_queue}, PELLUCID_MAX_QUEUE). Retry in {wait} s.",
                    retry_after=wait,
                )
            self._waiting.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"pellucid-batch-{self.lm.name}", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _taken(self) -> int:
        """Slots in use: running rows and requests being prefilled (called with the condition held)."""
        return len(self._running) + len(self._joining)

    def wake(self) -> None:
        """Wake the scheduler (a stream was cancelled)."""
        with self._cond:
            self._cond.notify()

    def metrics(self) -> EngineMetrics:
        """Queue length, running batch size, time to first token and throughput, now."""
        with self._cond:
            queued, running = len(self._waiting), self._taken()
        return self.stats.snapshot(self.lm.name, self.max_batch, self.max_queue, queued, running)

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop the scheduler; requests still waiting or running end with :class:`ServerBusyError`."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- scheduler thread ----------------------------------------------------------------
    def _loop(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self._stopped and not self._waiting and not self._running:
                        self._cond.wait()
                    if self._stopped:
                        break
                    joining = self._admit()
                try:
                    self._drop_cancelled()
                    if joining:
                        self._join(joining)
                    if self._running:
                        self._step()
                except Exception as error:  # a failed pass ends the requests in it, never the engine
                    self._fail(self._running + joining, error)
        with self._cond:
            left = list(self._waiting) + self._running
            self._waiting.clear()
        self._fail(left, ServerBusyError(f"The server stopped serving {self.lm.name}; retry when it is back."))

    def _admit(self) -> list[_Request]:
        """Take waiting requests into the free slots (called with the condition held)."""
        joining: list[_Request] = []
        while self._waiting and self._taken() + len(joining) < self.max_batch:
            request = self._waiting.popleft()
            if request.stream.cancelled:
                self.stats.cancelled += 1
                request.stream.end()
            else:
                joining.append(request)
        self._joining = joining
        return joining

    def _drop_cancelled(self) -> None:
        keep = [i for i, r in enumerate(self._running) if not r.stream.cancelled]
        if len(keep) < len(self._running):
            for r in self._running:
                if r.stream.cancelled:
                    self.stats.cancelled += 1
                    self.stats.ended(time.perf_counter() - r.submitted)
                    r.stream.end()
            self._keep(keep)

    def _keep(self, keep: list[int]) -> None:
        self._rows = self._rows.select(keep)
        with self._cond:
            self._running = [self._running[i] for i in keep]

    def _join(self, joining: list[_Request]) -> None:
        """Prefill the joining prompts together, emit their first tokens, add the unfinished ones as rows.

        A header every joining prompt shares (the chat template and system prompt) comes from
        :class:`SharedPrefixes`: only the rest of each prompt is computed, on top of its cache.
        """
        started = time.perf_counter()
        prompts = [r.prompt_ids for r in joining]
        shared = self._prefixes.for_prompts(self.lm, prompts)
        m = 0 if shared is None else shared.length
        ids, mask = right_padded([p[m:] for p in prompts], self._pad, self.lm.device)
        lengths = [len(p) - m for p in prompts]
        ends = sorted({n - 1 for n in lengths})  # only these positions are projected to the vocabulary
        keep_at = torch.tensor(ends, device=ids.device)
        cache = None
        if shared is not None:
            mask = torch.cat([mask.new_ones((len(prompts), m)), mask], dim=1)
            cache = shared.expanded(len(prompts), m, self.lm.model.config)
        out = self.lm.forward(ids, attention_mask=mask, cache=cache, use_cache=True, logits_to_keep=keep_at)
        column = torch.tensor([ends.index(n - 1) for n in lengths], device=ids.device)
        logits = out.logits[torch.arange(len(joining), device=ids.device), column]
        rows = rows_from_prefill(output_cache(out), [m + n for n in lengths])
        keep = [i for i, r in enumerate(joining) if self._emit(r, logits[i])]
        self.stats.step(started, len(joining))
        with self._cond:
            self._running = self._running + [joining[i] for i in keep]
            self._joining = []
        self._rows = self._rows.merge(rows.select(keep))

    def _step(self) -> None:
        """One decode step over every running row."""
        started = time.perf_counter()
        rows = self._rows
        inputs = torch.tensor([[r.last] for r in self._running], dtype=torch.long, device=self.lm.device)
        cache = {cache_keyword(self.lm.model): rows.cache(self.lm.model.config)}
        with self.lm.lease():
            out = self.lm.model(
                input_ids=inputs,
                attention_mask=rows.attention_mask(),
                position_ids=rows.position_ids(),
                use_cache=True,
                **cache,
            )
        self._rows = rows.advanced(output_cache(out))
        logits = out.logits[:, -1]
        keep = [i for i, r in enumerate(self._running) if self._emit(r, logits[i])]
        self.stats.step(started, len(self._running))
        if len(keep) < len(self._running):
            self._keep(keep)

    def _emit(self, request: _Request, logits: torch.Tensor) -> bool:
        """Pick and deliver the request's next token; whether it goes on generating."""
        token = pick_token(logits, request.temperature, request.top_p, request.generator)
        if request.generated == 0:
            self.stats.first_token(time.perf_counter() - request.submitted)
        request.generated += 1
        request.last = token
        request.stream.deliver(token)
        finished = token in self._eos or request.generated >= request.max_new_tokens
        if finished or request.stream.cancelled:
            if finished:
                self.stats.served += 1
            else:
                self.stats.cancelled += 1
            self.stats.ended(time.perf_counter() - request.submitted)
            request.stream.end()
            return False
        return True

    def _fail(self, requests: list[_Request], error: BaseException) -> None:
        for request in requests:
            request.stream.end(error)
        with self._cond:
            self._running, self._joining = [], []
        self._rows = Rows([], [])


def _pad_id(lm: LM) -> int:
    """A token id to fill padded prompt positions with (their outputs are never used)."""
    for value in (lm.tokenizer.pad_token_id, lm.tokenizer.eos_token_id, 0):
        if value is not None:
            return int(value)
    return 0
