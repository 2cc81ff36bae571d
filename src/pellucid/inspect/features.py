"""Activations of many texts, batched, pooled per text or per word.

Texts are sorted by length and padded on the right within each batch (the attention mask
keeps padding out of every real token's computation in a causal model), and each forward
stops after the deepest layer needed. Only the requested sites are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from pellucid.errors import InvalidInputError
from pellucid.inspect import _common as c
from pellucid.inspect.data import LabelledData
from pellucid.types import Encoding

if TYPE_CHECKING:
    from pellucid.models.lm import LM

POOLINGS = ("mean", "last")


def encode_texts(lm: LM, texts: Sequence[str], chat: bool | None = False) -> list[Encoding]:
    if not texts:
        raise InvalidInputError("No texts given; pass at least one text.")
    return [c.encode(lm, text, chat) for text in texts]


def batches(
    lm: LM, encodings: Sequence[Encoding], sites: Sequence[str], batch_size: int = 16
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """Yield ``(item indices, {site: [B, L_max, ...]})`` over length-sorted, right-padded batches."""
    if batch_size < 1:
        raise InvalidInputError(f"batch_size={batch_size}; it must be at least 1.")
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i]))
    for k in range(0, len(order), batch_size):
        items = order[k : k + batch_size]
        width = max(len(encodings[i]) for i in items)
        ids = torch.full((len(items), width), pad, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, i in enumerate(items):
            ids[row, : len(encodings[i])] = torch.tensor(encodings[i].ids)
            mask[row, : len(encodings[i])] = 1
        yield items, c.run_until(lm, ids.to(lm.device), sites, attention_mask=mask.to(lm.device))


def _token_groups(enc: Encoding, text: str, spans: Sequence[tuple[int, int]]) -> list[list[int]]:
    """For each word span of ``text``, the token positions of ``enc`` that overlap it."""
    shift = enc.text.find(text) if enc.text != text else 0
    groups = []
    for a, b in spans:
        a, b = a + shift, b + shift
        groups.append([t for t, (s, e) in enumerate(enc.offsets) if s < b and e > a])
    return groups


def _pool(values: torch.Tensor, positions: list[int], pooling: str) -> torch.Tensor:
    return values[positions[-1]] if pooling == "last" else values[positions].mean(0)


def collect_features(
    lm: LM,
    data: LabelledData,
    layers: Sequence[int],
    *,
    site: str = "resid_post",
    pooling: str = "mean",
    batch_size: int = 16,
    chat: bool | None = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """One feature vector per example (per word for token data, per text otherwise) for each layer.

    ``progress(done, total)`` counts the texts run so far.

    Returns ``({layer: [N, D]}, keep)`` where ``keep`` marks which of the data set's
    examples (in :meth:`LabelledData.flat_labels` order) got a vector (a word no token
    covers is dropped).
    """
    c.check_choice("pooling", pooling, POOLINGS)
    c.check_site(site, c.STREAM_SITES + ("mlp.post",))
    encodings = encode_texts(lm, data.texts, chat)
    names = {layer: f"blocks.{layer}.{site}" for layer in layers}
    per_item: dict[int, dict[int, list[torch.Tensor]]] = {}
    keep_item: dict[int, list[bool]] = {}
    for items, cache in batches(lm, encodings, list(names.values()), batch_size):
        for row, i in enumerate(items):
            enc = encodings[i]
            if data.level == "token":
                groups = _token_groups(enc, data.texts[i], data.spans[i])
            else:
                groups = [[t for t, s in enumerate(enc.segments) if s != "template"] or list(range(len(enc)))]
            keep_item[i] = [bool(g) for g in groups]
            per_item[i] = {
                layer: [_pool(cache[name][row].float(), g, pooling) for g in groups if g]
                for layer, name in names.items()
            }
        if progress is not None:
            progress(len(per_item), len(encodings))
    features = {
        layer: torch.stack([v for i in range(len(encodings)) for v in per_item[i][layer]]).cpu().numpy()
        for layer in layers
    }
    keep = np.array([k for i in range(len(encodings)) for k in keep_item[i]], dtype=bool)
    return features, keep


def pooled_activations(
    lm: LM,
    texts: Sequence[str],
    layer: int,
    *,
    site: str = "resid_post",
    pooling: str = "mean",
    chat: bool | None = False,
    batch_size: int = 16,
) -> np.ndarray:
    """``[N, D]``: each text's activation at one layer, pooled over its non-template tokens."""
    data = LabelledData(list(texts), [""] * len(texts), "sentence")
    features, _ = collect_features(lm, data, [layer], site=site, pooling=pooling, batch_size=batch_size, chat=chat)
    return features[layer]
