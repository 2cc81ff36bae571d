"""The shared engine: score many versions of a prompt against every target token at once.

Every attribution method reduces to evaluating a function ``F`` of the prompt: the value of
each target token (log-probability by default, or probability, or logit; minus the foil's
for contrastive explanations) and of the whole target sequence. The engine evaluates ``F``

- **teacher-forced**: the model reads ``prompt + target[:-1]`` once and all ``T`` target
  tokens are scored from that one pass; only the ``T`` positions that predict them are
  projected to the vocabulary (``logits_to_keep``);
- **batched**: many perturbed prompts per forward pass, chunked to bound memory;
- **with the shared prefix cached**: the keys/values of the positions no perturbation
  touches (the chat header) are computed once; each batch is sorted by the first position
  its rows change, and runs only from there on top of the cached prefix.

Batched, unbatched and cached evaluation agree to float rounding (tested to 1e-4).

Rows of ``F`` (``R = T + 1``): one per target token, then the whole sequence. For
``kind="logprob"`` the sequence row is the sum of the token rows; for ``"prob"`` it is the
probability of the whole sequence; for ``"logit"`` the sum of logits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import torch

from pellucid.errors import InvalidInputError
from pellucid.models import LM
from pellucid.models.kv import PrefixCache

TargetKind = Literal["logprob", "prob", "logit"]

#: What one extra forward pass costs, in tokens of work (kernel launches, Python, cache copies).
_PASS_OVERHEAD_TOKENS = 48
#: Distinct start positions one pass may merge (bounds the planning work on long prompts).
_MAX_GROUPS_PER_PASS = 64
TARGET_KINDS: tuple[str, ...] = ("logprob", "prob", "logit")


@dataclass(frozen=True)
class TargetSpec:
    """What is explained: the target tokens, an optional foil, and the quantity."""

    ids: list[int]
    tokens: list[str]
    kind: TargetKind = "logprob"
    foil_ids: list[int] | None = None
    foil_tokens: list[str] | None = None

    @property
    def contrastive(self) -> bool:
        return self.foil_ids is not None

    @property
    def per_token_contrast(self) -> bool:
        return self.foil_ids is not None and len(self.foil_ids) == len(self.ids)

    def row_labels(self) -> list[str]:
        if self.per_token_contrast:
            assert self.foil_tokens is not None
            # quoted, so a token's leading space shows: '" Yes" vs " No"', not "' Yes vs  No'"
            rows = [f"{json.dumps(t, ensure_ascii=False)} vs {json.dumps(f, ensure_ascii=False)}"
                    for t, f in zip(self.tokens, self.foil_tokens)]  # fmt: skip
        else:
            rows = list(self.tokens)
        return [*rows, "<target − foil>" if self.contrastive else "<sequence>"]


def token_values(logits: torch.Tensor, ids: list[int], kind: str) -> torch.Tensor:
    """Per-token value ``[B, T]`` of ``ids`` from logits ``[B, T, V]``."""
    index = torch.tensor(ids, device=logits.device).view(1, -1, 1).expand(logits.shape[0], -1, 1)
    if kind == "logit":
        return logits.gather(-1, index).squeeze(-1)
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, index).squeeze(-1)
    return logp.exp() if kind == "prob" else logp


def sequence_value(values: torch.Tensor, kind: str) -> torch.Tensor:
    """Whole-sequence value ``[B]`` from per-token values ``[B, T]``."""
    if kind == "prob":
        return values.clamp_min(1e-45).log().sum(-1).exp()
    return values.sum(-1)


def combine_rows(target: torch.Tensor, foil: torch.Tensor | None, kind: str) -> torch.Tensor:
    """``[B, R]``: token rows then the sequence row (contrasted with the foil when given)."""
    total = sequence_value(target, kind)
    if foil is None:
        return torch.cat([target, total[:, None]], dim=1)
    total = total - sequence_value(foil, kind)
    tokens = target - foil if foil.shape[1] == target.shape[1] else target
    return torch.cat([tokens, total[:, None]], dim=1)


@dataclass
class Scorer:
    """Evaluates ``F`` for many prompt variants of one prompt.

    Args:
        lm: the model.
        prompt_ids: the original prompt (length ``P``).
        spec: target, foil and kind.
        prefix_len: positions ``[0, prefix_len)`` are never changed by any variant; gradient
            methods take embeddings only for the positions after it.
        cache: reuse the keys/values of the original prompt up to the first position each
            batch changes (computed once, with one forward pass over the prompt).
        batch_tokens: most tokens per forward pass (batch × sequence), to bound memory.
    """

    lm: LM
    prompt_ids: list[int]
    spec: TargetSpec
    prefix_len: int = 0
    cache: bool = True
    batch_tokens: int = 1024
    forward_passes: int = field(default=0, init=False)
    _cache: PrefixCache | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.prompt_ids)
        self.prefix_len = max(0, min(self.prefix_len, n - 1))
        self.lm.check_length(n + max(len(self.spec.ids), len(self.spec.foil_ids or [])), "prompt plus target")

    @property
    def embed_start(self) -> int:
        """First prompt position given to gradient methods as embeddings (the rest is cached)."""
        return self.prefix_len if self.cache else 0

    def _prefix_cache(self) -> PrefixCache:
        """Keys/values of the whole original prompt, computed on first use (one forward pass)."""
        if self._cache is None:
            ids = torch.tensor([self.prompt_ids], device=self.lm.device)
            self._cache = self.lm.prefix_cache(ids)
            self.forward_passes += 1
        return self._cache

    @property
    def grad_batch_tokens(self) -> int:
        """Most tokens per differentiated pass: half of ``batch_tokens``, since the backward
        pass keeps every layer's activations (about 1.4 MB per token on SmolLM2-135M)."""
        return max(1, self.batch_tokens // 2)

    @property
    def n_rows(self) -> int:
        return len(self.spec.ids) + 1

    # -- token-id variants (perturbation methods) -----------------------------------------
    @torch.no_grad()
    def score(self, variants: torch.Tensor) -> torch.Tensor:
        """``F`` for each variant: ``[N, P]`` token ids -> ``[N, R]`` values (float64)."""
        variants = variants.to(self.lm.device)
        base = torch.tensor(self.prompt_ids, device=variants.device)
        if variants.dim() != 2 or variants.shape[1] != len(base):
            raise InvalidInputError(f"variants must be [N, {len(base)}], got {tuple(variants.shape)}")
        differs = variants != base
        first = torch.where(
            differs.any(1), differs.float().argmax(1), torch.full_like(differs[:, 0], len(base), dtype=torch.long)
        )
        order = torch.argsort(first, stable=True)
        starts = first[order].clamp_max(len(base) - 1) if self.cache else torch.zeros_like(first)
        out = torch.empty(len(variants), self.n_rows, dtype=torch.float64)
        for begin, end, m in self._plan(starts.tolist()):
            rows = order[begin:end]
            out[rows] = self._score_window(variants[rows], m).double().cpu()
        return out

    def _plan(self, starts: list[int]) -> list[tuple[int, int, int]]:
        """Split rows sorted by first changed position into forward passes ``(begin, end, m)``.

        A pass over rows ``begin..end`` starts at ``m``, the first changed position of its
        first row, so it recomputes ``P - m + T - 1`` positions per row on top of the cached
        prefix. Grouping rows whose perturbations start late into their own passes saves the
        work of recomputing the unchanged positions before them; every extra pass costs a
        fixed overhead. A small dynamic programme over the distinct start positions picks the
        grouping with the least total cost, and each group is cut into batches of at most
        ``batch_tokens`` tokens.
        """
        n_prompt = len(self.prompt_ids)
        extra = max(len(self.spec.ids), len(self.spec.foil_ids or [1])) - 1
        groups: list[tuple[int, int]] = []  # (start position, first row index)
        for row, m in enumerate(starts):
            if not groups or groups[-1][0] != m:
                groups.append((m, row))
        bounds = [row for _, row in groups] + [len(starts)]

        def cost(i: int, k: int) -> tuple[float, int]:
            width = n_prompt - groups[i][0] + extra
            rows = bounds[k] - bounds[i]
            cap = max(1, self.batch_tokens // max(width, 1))
            passes = -(-rows // cap)
            return rows * width + passes * _PASS_OVERHEAD_TOKENS, cap

        n_groups = len(groups)
        best = [0.0] + [float("inf")] * n_groups
        choice = [0] * (n_groups + 1)
        for k in range(1, n_groups + 1):
            for i in range(max(0, k - _MAX_GROUPS_PER_PASS), k):
                c = best[i] + cost(i, k)[0]
                if c < best[k]:
                    best[k], choice[k] = c, i
        plan: list[tuple[int, int, int]] = []
        k = n_groups
        while k > 0:
            i = choice[k]
            cap = cost(i, k)[1]
            for begin in range(bounds[i], bounds[k], cap):
                plan.append((begin, min(begin + cap, bounds[k]), groups[i][0]))
            k = i
        return plan[::-1]

    def _score_window(self, rows: torch.Tensor, m: int) -> torch.Tensor:
        target = self._values(rows[:, m:], m, self.spec.ids)
        foil = self._values(rows[:, m:], m, self.spec.foil_ids) if self.spec.foil_ids else None
        return combine_rows(target, foil, self.spec.kind)

    def _values(self, suffix: torch.Tensor, m: int, ids: list[int]) -> torch.Tensor:
        cont = torch.tensor(ids[:-1], dtype=torch.long, device=suffix.device).expand(len(suffix), -1)
        inputs = torch.cat([suffix, cont], dim=1)
        logits = self._forward(inputs, m, len(ids), embeds=False)
        return token_values(logits, ids, self.spec.kind)

    def _forward(self, inputs: torch.Tensor, m: int, keep: int, embeds: bool) -> torch.Tensor:
        cache = None
        if m > 0:
            if not self.cache:
                raise RuntimeError("a window starting after position 0 needs the prefix cache")
            cache = self._prefix_cache().expanded(inputs.shape[0], m, self.lm.model.config)
        self.forward_passes += 1
        if embeds:
            out = self.lm.forward(inputs_embeds=inputs, cache=cache, logits_to_keep=keep)
        else:
            out = self.lm.forward(inputs, cache=cache, logits_to_keep=keep)
        return out.logits

    # -- embedding inputs (gradient methods) ------------------------------------------------
    def embed_suffix(self) -> torch.Tensor:
        """Embeddings ``[1, P - start, D]`` of the prompt after the cached prefix (``start = embed_start``)."""
        ids = torch.tensor([self.prompt_ids[self.embed_start :]], device=self.lm.device)
        return self.lm.embed(ids).detach()

    def score_embeds(self, suffix_embeds: torch.Tensor) -> torch.Tensor:
        """Differentiable ``F`` ``[B, R]`` from embeddings ``[B, P - prefix_len, D]`` of the uncached prompt."""
        target = self._embed_values(suffix_embeds, self.spec.ids)
        foil = self._embed_values(suffix_embeds, self.spec.foil_ids) if self.spec.foil_ids else None
        return combine_rows(target, foil, self.spec.kind)

    def _embed_values(self, suffix_embeds: torch.Tensor, ids: list[int]) -> torch.Tensor:
        cont_ids = torch.tensor([ids[:-1]], dtype=torch.long, device=suffix_embeds.device)
        cont = self.lm.embed(cont_ids).detach().expand(suffix_embeds.shape[0], -1, -1)
        inputs = torch.cat([suffix_embeds, cont], dim=1)
        logits = self._forward(inputs, self.embed_start, len(ids), embeds=True)
        return token_values(logits, ids, self.spec.kind)
