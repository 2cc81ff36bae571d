"""Helpers for tests that run a model from two threads at once.

The random tiny models answer from their residual stream: their MLP outputs are far too small to
change a greedy token, so a leaked MLP ablation would go unnoticed. :func:`mlp_heavy` copies a
tiny model with its MLP outputs scaled up until zeroing any one of them changes the greedy text —
then a hook leaking into another thread shows in that thread's token ids.

:class:`Spans` records when each run of a loop started and ended, so a test can prove that two
loops really overlapped in time (a concurrency test that never interleaved proves nothing).
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import torch

#: the MLP output site a "leaking" ablation zeroes
SITE = "blocks.1.mlp.out"


def mlp_heavy(lm: Any, scale: float = 100.0) -> Any:
    """A copy of ``lm`` whose MLP down projections are ``scale`` times larger."""
    from pellucid.models import LM

    model = copy.deepcopy(lm.model)
    with torch.no_grad():
        for block in model.get_submodule(lm.arch.blocks):
            block.get_submodule(lm.arch.mlp_down).weight.mul_(scale)
    return LM(model, lm.tokenizer, f"{lm.name}-mlp-heavy")


def zero(value: torch.Tensor, _site: str) -> torch.Tensor:
    return torch.zeros_like(value)


class Spans:
    """``(start, end)`` of each run of a loop, thread-safe."""

    def __init__(self) -> None:
        self.items: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def record(self, start: float) -> None:
        with self._lock:
            self.items.append((start, time.perf_counter()))

    def overlapping(self, other: Spans) -> int:
        """How many of these runs overlapped in time with at least one run of ``other``."""
        return sum(any(s < e2 and s2 < e for s2, e2 in other.items) for s, e in self.items)


def in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``fn`` in a daemon thread; its result lands in ``box["value"]``, an exception in ``box["error"]``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as error:  # re-raised by the test
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box
