"""Token streaming: text arrives piece by piece while the model is still generating.

:meth:`LM.stream <pellucid.models.lm.LM.stream>` returns a :class:`TokenStream`. Hugging Face's
``generate`` runs in a background thread and hands each new token to a queue (a
``BaseStreamer``); iterating the stream turns tokens into text deltas:

- the whole continuation is decoded again at each token and only the new suffix is emitted, so
  the pieces always concatenate to ``tokenizer.decode(token_ids)`` — the text ``LM.generate``
  returns — even where one character spans several byte-level tokens (a trailing ``U+FFFD``
  is held back until the character is complete);
- stop strings are matched on the decoded text; text that might be the start of a stop string
  is held back until it is clear, and the stop string itself is never emitted (as in the OpenAI
  API);
- the end-of-turn token ends the stream and is not part of the text.

One generation runs at a time per model (a lock per model object): sampling seeds use torch's
global random generator, which concurrent generations would share, and two generations on two
CPU cores are not faster than one after the other. The generation thread holds the model's
shared lease (:mod:`pellucid.models.lease`) from its first token to its last, so no hook or
other change to the model can alter an answer mid-stream; the lease is released when the
generation ends, is closed or fails. Closing the stream early (a client that disconnects)
cancels the generation at its next token through a stopping criterion.

The server's batching engine feeds the same consuming side from its shared decode loop instead of a
thread per stream (:class:`~pellucid.models.batching.BatchedStream`).
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

if TYPE_CHECKING:
    from pellucid.models.lm import LM

_END = object()
_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def generation_lock(model: Any) -> threading.Lock:
    """The lock serialising generations on ``model`` (one per model object)."""
    with _locks_guard:
        lock = _locks.get(model)
        if lock is None:
            lock = _locks[model] = threading.Lock()
        return lock


class _QueueStreamer(BaseStreamer):
    """Receives tokens from ``generate`` (the first ``put`` is the prompt, skipped)."""

    def __init__(self, out: queue.Queue[Any]) -> None:
        self.out = out
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.out.put(int(token))

    def end(self) -> None:
        self.out.put(_END)


class _Cancelled(StoppingCriteria):
    """Stops generation once ``event`` is set."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class TokenStream:
    """An iterator of text pieces from a generation running in a background thread.

    After iteration: ``text`` (all pieces joined), ``token_ids`` (generated tokens, end token
    excluded), ``finish_reason`` (``"stop"``: end token or stop string; ``"length"``:
    ``max_new_tokens`` reached; ``"cancelled"``: closed early), ``prompt_tokens``, and
    ``first_token_at`` (``time.perf_counter()`` when the first token arrived).
    """

    def __init__(
        self,
        lm: LM,
        prompt_ids: list[int],
        config: Any,
        *,
        seed: int | None,
        stop: Sequence[str] = (),
    ) -> None:
        self._setup(lm, len(prompt_ids), stop)
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, args=(prompt_ids, config, seed), name="pellucid-generate", daemon=True
        )

    def _setup(self, lm: LM, prompt_tokens: int, stop: Sequence[str]) -> None:
        """The consuming side's state; the producer puts token ids, then ``_END``, on ``_queue``."""
        self.lm = lm
        self.prompt_tokens = prompt_tokens
        self.stop = [s for s in stop if s]
        self.token_ids: list[int] = []
        self.text = ""
        self.finish_reason: str | None = None
        self.first_token_at: float | None = None
        self._eos = set(lm.stop_token_ids())
        self._queue: queue.Queue[Any] = queue.Queue()
        self._cancel = threading.Event()
        self._error: BaseException | None = None
        self._started = False

    def _begin(self) -> None:
        """Start producing tokens (here: the generation thread), called when iteration starts."""
        if self._thread is not None:
            self._thread.start()

    # -- generation thread ---------------------------------------------------------------
    def _run(self, prompt_ids: list[int], config: Any, seed: int | None) -> None:
        streamer = _QueueStreamer(self._queue)
        try:
            with generation_lock(self.lm.model), self.lm.lease():
                if self._cancel.is_set():
                    return
                ids = torch.tensor([prompt_ids], dtype=torch.long, device=self.lm.device)
                with torch.no_grad(), torch.random.fork_rng(devices=[]):
                    if seed is not None:
                        torch.manual_seed(seed)
                    self.lm.model.generate(
                        ids,
                        attention_mask=torch.ones_like(ids),
                        generation_config=config,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Cancelled(self._cancel)]),
                    )
        except BaseException as error:  # re-raised in the consuming thread
            self._error = error
        finally:
            self._queue.put(_END)

    # -- consuming side ------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("A TokenStream can be iterated only once.")
        held = self.lm._lease.held()
        if held is not None:
            self.cancel()  # a batched stream already holds a place in its engine: give it back
            raise RuntimeError(
                f"This thread holds the {held} lease of {self.lm.name} (inside lm.hooks(...) or lm.lease()), "
                "and the stream generates in another thread, which would wait for that lease forever. "
                "Use lm.generate(...) inside the block, or iterate the stream outside it."
            )
        self._started = True
        self._begin()
        sent = 0
        text = ""
        try:
            while True:
                token = self._queue.get()
                if token is _END:
                    break
                if self.first_token_at is None:
                    self.first_token_at = time.perf_counter()
                if token in self._eos:
                    self.finish_reason = "stop"
                    break
                self.token_ids.append(token)
                text = self.lm.tokenizer.decode(self.token_ids, skip_special_tokens=True)
                cut = _find_stop(text, self.stop, max(0, sent - max((len(s) for s in self.stop), default=0)))
                if cut is not None:
                    text, self.finish_reason = text[:cut], "stop"
                    break
                safe = _safe_end(text, self.stop)
                if safe > sent and text.startswith(self.text):
                    yield text[sent:safe]
                    sent = safe
                    self.text = text[:sent]
            if self._error is not None:
                raise self._error
            if self.finish_reason is None:
                self.finish_reason = "cancelled" if self._cancel.is_set() else "length"
            if len(text) > sent and text.startswith(self.text):
                yield text[sent:]
            self.text = text
        finally:
            if self.finish_reason is None:
                self.finish_reason = "cancelled"
            self.close()

    def cancel(self) -> None:
        """Ask the generation to stop at its next token; returns at once (safe from any thread)."""
        self._cancel.set()

    def close(self) -> None:
        """Stop the generation (at its next token) and wait for the thread to end."""
        self.cancel()
        thread = self._thread
        if self._started and thread is not None and thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> TokenStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _find_stop(text: str, stop: Sequence[str], start: int) -> int | None:
    """Index of the earliest stop string in ``text[start:]``, or None."""
    found = [i for s in stop if (i := text.find(s, start)) >= 0]
    return min(found) if found else None


def _safe_end(text: str, stop: Sequence[str]) -> int:
    """How much of ``text`` can be emitted: not a trailing partial character or stop-string prefix."""
    end = len(text)
    while end and text[end - 1] == "\ufffd":
        end -= 1
    for k in range(min(max((len(s) for s in stop), default=1) - 1, end), 0, -1):
        if any(s.startswith(text[end - k : end]) for s in stop):
            return end - k
    return end
