"""Prefix reuse for the batching engine: the keys and values of a shared prompt header, computed once.

Chat requests to one model begin with the same tokens — the chat template's header and, most often,
the same system prompt — so most of a short prompt's prefill recomputes what the previous request
already computed. :class:`SharedPrefixes` keeps the keys and values of a few such headers
(:class:`~pellucid.models.kv.PrefixCache`, least recently used dropped first). When requests join,
the longest kept header that begins every joining prompt is reused (or, when two or more join at
once, their longest common prefix is computed once and kept); only the rest of each prompt is
prefilled, on top of the header's cache. Causal attention makes this exact: a header position
never depends on what follows it, so a request's tokens are those it would get alone (up to float
summation order, like every batched pass; the tests decide equality on tokens).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from pellucid.models.kv import PrefixCache

if TYPE_CHECKING:
    from pellucid.models.lm import LM

#: headers shorter than this are not worth a cache entry (the saving is below a pass's overhead)
MIN_SHARED = 8
#: headers kept (one per distinct system prompt or template in recent traffic)
KEPT = 4


def common_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """The number of leading tokens every prompt shares."""
    first = prompts[0]
    n = min(len(p) for p in prompts)
    for i in range(n):
        token = first[i]
        if any(p[i] != token for p in prompts[1:]):
            return i
    return n


class SharedPrefixes:
    """A small LRU of prompt headers' keys and values, keyed by their token ids."""

    def __init__(self, kept: int = KEPT, min_shared: int = MIN_SHARED) -> None:
        self.kept = kept
        self.min_shared = min_shared
        self._cache: OrderedDict[tuple[int, ...], PrefixCache] = OrderedDict()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._cache)

    def for_prompts(self, lm: LM, prompts: Sequence[Sequence[int]]) -> PrefixCache | None:
        """A header every prompt starts with and that leaves each at least one token to prefill, or ``None``."""
        shortest = min(len(p) for p in prompts)
        kept = [key for key in self._cache if len(key) < shortest and all(tuple(p[: len(key)]) == key for p in prompts)]
        if kept:
            key = max(kept, key=len)
            self._cache.move_to_end(key)
            self.hits += 1
            return self._cache[key]
        if len(prompts) < 2:
            return None
        m = min(common_prefix(prompts), shortest - 1)
        if m < self.min_shared:
            return None
        key = tuple(int(t) for t in prompts[0][:m])
        ids = torch.tensor([key], dtype=torch.long, device=lm.device)
        self._cache[key] = lm.prefix_cache(ids)
        while len(self._cache) > self.kept:
            self._cache.popitem(last=False)
        return self._cache[key]
