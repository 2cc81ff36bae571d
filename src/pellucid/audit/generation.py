"""The checks' generations, decoded together: one continuous-batching engine per call.

Audit checks ask the model many independent questions (PII prompts, leakage probes, toxicity
continuations, groundedness answers). Generated one after another, each costs a forward pass per
token for a single row; decoded together by :class:`~pellucid.models.batching.BatchEngine`, one
step serves every question. Each request keeps its own sampling generator, so the answers are the
ones ``lm.generate`` gives for each question alone — greedy, or seeded sampling with the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt

#: rows decoded together (the engine's slots)
BATCH = 16


def generate_all(
    lm: LM,
    prompts: Sequence[Prompt],
    *,
    max_new_tokens: int,
    chat: bool | None = None,
    system: str | None = None,
    temperature: float = 0.0,
    seeds: Sequence[int | None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Each prompt's generated text, in order; ``progress(done)`` after each one is read."""
    from pellucid.models.batching import BatchEngine

    if not prompts:
        return []
    seeds = list(seeds) if seeds is not None else [None] * len(prompts)
    if not hasattr(lm, "plan_stream"):  # not a Pellucid LM (a wrapper around another API): one at a time
        return _one_by_one(lm, prompts, max_new_tokens, chat, system, temperature, seeds, progress)
    engine = BatchEngine(lm, max_batch=BATCH, max_queue=len(prompts))
    try:
        streams = [
            engine.stream(
                p, chat=chat, system=system, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
            )
            for p, seed in zip(prompts, seeds, strict=True)
        ]
        texts = []
        for i, stream in enumerate(streams, start=1):
            texts.append("".join(stream))
            if progress is not None:
                progress(i)
        return texts
    finally:
        engine.close()


def _one_by_one(
    lm: LM, prompts: Sequence[Prompt], max_new_tokens: int, chat: bool | None, system: str | None,
    temperature: float, seeds: Sequence[int | None], progress: Callable[[int], None] | None,
) -> list[str]:  # fmt: skip
    """``lm.generate`` per prompt, for objects that only offer ``generate``."""
    texts = []
    for i, (p, seed) in enumerate(zip(prompts, seeds, strict=True), start=1):
        kwargs: dict[str, Any] = {"chat": chat, "system": system} if chat is not None or system is not None else {}
        texts.append(lm.generate(p, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, **kwargs).text)
        if progress is not None:
            progress(i)
    return texts
