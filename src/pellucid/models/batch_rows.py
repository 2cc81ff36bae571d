"""The running decode batch of :mod:`pellucid.models.batching`: keys and values of many requests in one cache.

Requests of different lengths share one key/value tensor per layer, ``[batch, kv_heads, width, d_head]``,
**left-aligned by padding**: row ``r`` holds its ``lengths[r]`` real positions in the last columns and
padding before them. One decode step then feeds every row's last token at once with

- an attention mask ``[batch, width + 1]`` that is 1 on each row's real columns and on the new one, so
  a row never attends to another row's padding (masked scores are ``-inf``: their weight is exactly 0);
- per-row position ids (``lengths[r]``), so rotary or learned positions are those of the row alone.

Rows change only between steps: :meth:`Rows.select` keeps some rows (a request finished or was
cancelled) and trims padding columns no row needs any more; :meth:`Rows.merge` adds rows (new
requests, prefilled together by :func:`prefill_rows`), padding whichever side is narrower on the left.
Causal attention makes this exact: a position depends only on its own row's earlier positions, so a
request's tokens are those it would get alone, up to float summation order (greedy decoding picks the
same tokens; the tests decide equality on tokens, never on logits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

Layers = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Rows:
    """Left-aligned keys and values per layer (``[batch, kv_heads, width, d_head]``) and each row's length."""

    layers: Layers
    lengths: list[int]
    #: the ``DynamicCache`` these tensors came from, reused by the next step (building one copies every tensor)
    built: Any = field(default=None, repr=False)

    @property
    def width(self) -> int:
        return int(self.layers[0][0].shape[2]) if self.layers else 0

    def __len__(self) -> int:
        return len(self.lengths)

    def attention_mask(self, extra: int = 1) -> torch.Tensor:
        """``[batch, width + extra]``: 1 on each row's real columns and the ``extra`` new ones."""
        width = self.width + extra
        device = self.layers[0][0].device
        lengths = torch.tensor(self.lengths, device=device) + extra
        return (torch.arange(width, device=device)[None, :] >= width - lengths[:, None]).long()

    def position_ids(self) -> torch.Tensor:
        """``[batch, 1]``: the position of each row's next token (its length so far)."""
        return torch.tensor(self.lengths, device=self.layers[0][0].device)[:, None]

    def cache(self, config: Any) -> Any:
        """A ``DynamicCache`` over these tensors: the previous step's when the rows did not change since."""
        if self.built is None:
            from transformers import DynamicCache

            self.built = DynamicCache(ddp_cache_data=list(self.layers), config=config)
        return self.built

    def advanced(self, cache: Any) -> Rows:
        """The rows after a decode step: the cache the forward pass returned, every length plus one."""
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        return Rows(layers, [n + 1 for n in self.lengths], built=cache)

    def select(self, keep: list[int]) -> Rows:
        """Only the rows ``keep`` (indices, in order), without padding columns none of them needs."""
        if not keep:
            return Rows([], [])
        lengths = [self.lengths[i] for i in keep]
        width = max(lengths)
        index = torch.tensor(keep, device=self.layers[0][0].device)
        layers = [(k[index, :, -width:], v[index, :, -width:]) for k, v in self.layers]
        return Rows(layers, lengths)

    def merge(self, other: Rows) -> Rows:
        """These rows followed by ``other``'s, both padded on the left to the wider of the two."""
        if not self.lengths:
            return other
        if not other.lengths:
            return self
        width = max(self.width, other.width)
        layers = [
            tuple(torch.cat([_pad_left(mine, width), _pad_left(theirs, width)]) for mine, theirs in zip(a, b))
            for a, b in zip(self.layers, other.layers)
        ]
        return Rows([(k, v) for k, v in layers], self.lengths + other.lengths)


def _pad_left(t: torch.Tensor, width: int) -> torch.Tensor:
    missing = width - t.shape[2]
    if missing <= 0:
        return t
    pad = t.new_zeros((t.shape[0], t.shape[1], missing, t.shape[3]))
    return torch.cat([pad, t], dim=2)


def right_padded(prompts: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, attention_mask)``, ``[n, longest]`` each: the prompts with padding after their ends.

    Padding on the right keeps every real position's computation that of the prompt alone: a causal
    model never lets a position see later ones, and the padded positions' outputs are discarded.
    """
    longest = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), longest), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((len(prompts), longest), dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        ids[row, : len(prompt)] = torch.tensor(prompt, dtype=torch.long, device=device)
        mask[row, : len(prompt)] = 1
    return ids, mask


def rows_from_prefill(cache: Any, lengths: list[int]) -> Rows:
    """Turn a right-padded prefill's cache into left-aligned :class:`Rows` (each row shifted right)."""
    width = max(lengths)
    layers: Layers = []
    for layer in cache.layers:
        pair = []
        for t in (layer.keys, layer.values):
            shifted = t.new_zeros(t.shape[0], t.shape[1], width, t.shape[3])
            for row, n in enumerate(lengths):
                shifted[row, :, width - n :] = t[row, :, :n]
            pair.append(shifted)
        layers.append((pair[0], pair[1]))
    return Rows(layers, list(lengths))


#: Hugging Face ``generate`` keeps only the 50 most likely tokens when sampling without a ``top_k``
#: (its ``GenerationConfig`` default, which :meth:`LM.generate <pellucid.models.lm.LM.generate>` leaves in place).
SAMPLING_TOP_K = 50


def pick_token(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None) -> int:
    """The next token from one row of logits: argmax when ``temperature == 0``, else a seeded draw.

    Sampling follows Hugging Face's ``generate`` step for step — divide by the temperature, keep the
    :data:`SAMPLING_TOP_K` most likely tokens, then the smallest set of them whose probability reaches
    ``top_p`` (the most likely token always stays), draw once with ``torch.multinomial`` — but from
    ``generator``, the request's own. So a seed gives the same tokens whatever else runs in the batch,
    and the same as an unbatched seeded ``generate`` (which draws from torch's global generator seeded
    alike).
    """
    if temperature == 0:
        return int(torch.argmax(logits))
    scores = logits.float()[None, :]
    if temperature != 1.0:
        scores = scores / temperature
    k = min(SAMPLING_TOP_K, scores.shape[-1])
    scores = scores.masked_fill(scores < torch.topk(scores, k)[0][..., -1, None], float("-inf"))
    if top_p < 1:
        ordered, order = torch.sort(scores, descending=False)
        cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative <= (1 - top_p)
        drop[..., -1:] = False
        scores = scores.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, num_samples=1, generator=generator)[0, 0])
