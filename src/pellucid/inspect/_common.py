"""Helpers shared by the ``inspect`` methods: input checks, tokenization, labels, metrics.

Every user-facing check lives here so that all methods word their errors the same way:
the bad value, the allowed range, and how to fix it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from pellucid.errors import InvalidInputError, unknown_name
from pellucid.types import Encoding

if TYPE_CHECKING:
    from pellucid.models.lm import LM, Prompt

#: block-level sites whose activation lives in the residual-stream width ``[B, L, D]``
STREAM_SITES = ("resid_pre", "resid_post", "attn.out", "mlp.out")


def check_choice(kind: str, value: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise the standard "unknown" error."""
    allowed = list(allowed)
    if value not in allowed:
        raise unknown_name(kind, value, allowed)
    return value


def resolve_layers(lm: LM, layers: int | Sequence[int] | None) -> list[int]:
    """Layer indices to use: ``None`` means all; negatives count from the end (``-1`` = last)."""
    if layers is None:
        return list(range(lm.n_layers))
    chosen = [layers] if isinstance(layers, int) else list(layers)
    if not chosen:
        raise InvalidInputError(f"No layers chosen; pick some of 0..{lm.n_layers - 1} (or leave empty for all).")
    out: list[int] = []
    for layer in chosen:
        if not isinstance(layer, int) or not -lm.n_layers <= layer < lm.n_layers:
            raise InvalidInputError(
                f"Layer {layer!r} does not exist: {lm.name} has layers 0..{lm.n_layers - 1} "
                f"(or -{lm.n_layers}..-1 counting from the end)."
            )
        index = layer % lm.n_layers
        if index not in out:
            out.append(index)
    return out


def resolve_heads(lm: LM, heads: int | Sequence[int] | None) -> list[int]:
    """Head indices to use: ``None`` means all heads of a layer."""
    if heads is None:
        return list(range(lm.n_heads))
    chosen = [heads] if isinstance(heads, int) else list(heads)
    bad = [h for h in chosen if not isinstance(h, int) or not 0 <= h < lm.n_heads]
    if bad or not chosen:
        raise InvalidInputError(
            f"Head {bad[0] if bad else chosen!r} does not exist: {lm.name} has heads 0..{lm.n_heads - 1} in each layer."
        )
    return list(dict.fromkeys(chosen))


def resolve_positions(n_tokens: int, positions: int | Sequence[int] | None) -> list[int]:
    """Token positions to use: ``None`` means all; negatives count from the end."""
    if positions is None:
        return list(range(n_tokens))
    chosen = [positions] if isinstance(positions, int) else list(positions)
    out: list[int] = []
    for pos in chosen:
        if not isinstance(pos, int) or not -n_tokens <= pos < n_tokens:
            raise InvalidInputError(
                f"Position {pos!r} does not exist: the prompt has {n_tokens} tokens, positions 0..{n_tokens - 1} "
                f"(or -{n_tokens}..-1 from the end)."
            )
        if pos % n_tokens not in out:
            out.append(pos % n_tokens)
    if not out:
        raise InvalidInputError(f"No positions chosen; pick some of 0..{n_tokens - 1}.")
    return sorted(out)


def parse_neurons(lm: LM, neurons: Sequence[str | tuple[int, int]]) -> list[tuple[int, int]]:
    """``["3.512", (4, 7)]`` -> ``[(3, 512), (4, 7)]``, checked against the model's sizes."""
    width = int(getattr(lm.model.config, "intermediate_size", None) or 4 * lm.d_model)
    out = []
    for spec in neurons:
        try:
            layer, index = (int(x) for x in (spec.split(".") if isinstance(spec, str) else spec))
        except (ValueError, TypeError):
            raise InvalidInputError(f"Neuron {spec!r} is not 'layer.index' (e.g. '3.512') or (layer, index).") from None
        (layer,) = resolve_layers(lm, layer)
        if not 0 <= index < width:
            raise InvalidInputError(f"Neuron index {index} does not exist: MLP layers have neurons 0..{width - 1}.")
        out.append((layer, index))
    return out


def check_site(site: str, allowed: Sequence[str]) -> str:
    """A block-level site suffix (``resid_pre``, ``mlp.out``...) that this method supports.

    A full site name (``blocks.3.mlp.out``) is refused with the suffix to give instead when that
    suffix is allowed, and with the list of allowed suffixes when it is not.
    """
    if site.startswith("blocks."):
        _, layer, suffix = (site.split(".", 2) + ["", ""])[:3]
        if suffix in allowed:
            raise InvalidInputError(
                f"Give the site without the layer: {suffix!r} (and the layer with layers=[{layer}]); "
                f"sites: {', '.join(allowed)}."
            )
        raise InvalidInputError(
            f"Unknown site {site!r}: give one of {', '.join(allowed)} without the layer, and choose layers with "
            "layers=... (CLI: --layers)."
        )
    return check_choice("site", site, allowed)


def encode(lm: LM, prompt: Prompt, chat: bool | None) -> Encoding:
    """Tokenize ``prompt`` (raw text unless ``chat``) and check it fits the context window."""
    enc = lm.encode(prompt, chat=chat)
    lm.check_length(len(enc))
    return enc


def as_ids(lm: LM, enc: Encoding) -> torch.Tensor:
    """``[1, L]`` ids of an encoding on the model's device."""
    return torch.tensor([enc.ids], dtype=torch.long, device=lm.device)


def token_id(lm: LM, text: str, role: str = "target") -> int:
    """The id of the first token of ``text`` (a next-token target such as ``' Paris'``)."""
    if not isinstance(text, str) or not text:
        raise InvalidInputError(f"The {role} is empty; give the next token as text, e.g. ' Paris' (mind the space).")
    ids = lm.encode_target(text)
    return ids[0]


def token_meta(lm: LM, text: str | None, tid: int | None) -> dict[str, Any] | None:
    """How a target/foil string was read: its first token is the one scored."""
    if text is None or tid is None:
        return None
    ids = lm.encode_target(text)
    token = lm.tokenizer.decode([tid])
    meta: dict[str, Any] = {"text": text, "id": tid, "token": token, "n_tokens": len(ids)}
    if len(ids) > 1:  # next-token methods score one token: say which, rather than use it silently
        meta["note"] = f"{text!r} is {len(ids)} tokens; only its first, {token!r}, is scored."
    return meta


def final_norm(lm: LM) -> torch.nn.Module:
    """The final normalisation module (from the architecture table)."""
    if lm.arch.final_norm is None:
        raise InvalidInputError(f"{lm.arch.family} models have no final norm, so this method does not apply.")
    return lm.site("final_norm").module


def unembedding(lm: LM) -> torch.nn.Module:
    """The unembedding (output projection to the vocabulary), as Hugging Face exposes it."""
    module = lm.model.get_output_embeddings()
    if module is None:
        raise InvalidInputError(f"{lm.name} has no unembedding (it is not a language-modelling head model).")
    return module


def layer_labels(layers: Sequence[int]) -> list[str]:
    return [str(layer) for layer in layers]


def position_labels(enc: Encoding, positions: Sequence[int] | None = None) -> list[str]:
    """One label per position: the token text as it appears in the prompt."""
    positions = range(len(enc)) if positions is None else positions
    return [enc.tokens[p] for p in positions]


def position_info(enc: Encoding, positions: Sequence[int] | None = None) -> dict[str, list[Any]]:
    """Per-position details for ``meta["label_info"]["position"]``."""
    positions = list(range(len(enc))) if positions is None else list(positions)
    return {"index": positions, "segment": [enc.segments[p] for p in positions]}


Metric = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TokenMetric:
    """A scalar read from next-token logits ``[B, V] -> [B]``.

    ``logit_diff`` is ``logit(target) - logit(foil)``; ``prob`` and ``logprob`` are the
    target's softmax probability and log-probability.
    """

    kind: str
    target: int
    foil: int | None = None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.kind == "logit_diff" and self.foil is not None:
            return logits[..., self.target] - logits[..., self.foil]
        logprobs = torch.log_softmax(logits, dim=-1)[..., self.target]
        return logprobs.exp() if self.kind == "prob" else logprobs


METRICS = ("logit_diff", "prob", "logprob")


def make_metric(lm: LM, target: str, foil: str | None, metric: str | None) -> TokenMetric:
    """Build the metric: ``logit_diff`` when a foil is given, else the target's probability."""
    metric = metric or ("logit_diff" if foil is not None else "prob")
    check_choice("metric", metric, METRICS)
    tid = token_id(lm, target, "target")
    fid = token_id(lm, foil, "foil") if foil is not None else None
    if metric == "logit_diff":
        if fid is None:
            raise InvalidInputError(
                "metric='logit_diff' needs a foil (the competing answer, e.g. --foil ' Rome'); or use metric='prob'."
            )
        if fid == tid:
            raise InvalidInputError(
                f"The target {target!r} and the foil {foil!r} start with the same token; pick another foil."
            )
    return TokenMetric(metric, tid, fid)


#: Relative size below which two metric values cannot be told apart: fp32 kernels (MKL, oneDNN, AVX2 or AVX-512)
#: and batch composition change a forward pass's outputs by ~1e-6 of their magnitude, so a clean-corrupted gap
#: under 1e-5 of the metric's size is rounding, not an effect, and dividing by it would amplify noise.
INDISTINGUISHABLE = 1e-5


def normalise(values: torch.Tensor, clean: float, corrupted: float) -> torch.Tensor:
    """Map a metric so that the clean run scores 1 and the corrupted run 0.

    Identical prompts are refused earlier, by their token ids (see :func:`require_different`); here a gap
    within rounding of the metric's magnitude is refused, since dividing by it would only scale noise.
    """
    gap = clean - corrupted
    if abs(gap) <= INDISTINGUISHABLE * max(abs(clean), abs(corrupted)):
        raise InvalidInputError(
            f"The clean and corrupted runs give the same metric up to rounding ({clean:.6g} vs {corrupted:.6g}), "
            "so there is nothing to restore; choose prompts (or a target/foil) on which the model's answer "
            "differs, or pass normalize=False for the raw metric values."
        )
    return (values - corrupted) / gap


def require_different(clean: Encoding, corrupted: Encoding) -> None:
    """Refuse to normalise a clean/corrupted pair with identical token ids: clean = corrupted, so 1 = 0."""
    if list(clean.ids) == list(corrupted.ids):
        raise InvalidInputError(
            f"The clean and corrupted prompts are the same {len(clean.ids)} tokens, so patching one into the other "
            "changes nothing and the scale from corrupted (0) to clean (1) is empty; give a corrupted prompt that "
            "differs from the clean one (e.g. another subject), or normalize=False for the raw metric values."
        )


class Stopwatch:
    """Wall time since construction, for ``meta["seconds"]``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 4)


class StopForward(Exception):
    """Raised inside a hook to end a forward pass once the needed activations are read."""


def run_until(
    lm: LM,
    ids: torch.Tensor,
    sites: Sequence[str],
    attention_mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Read ``sites`` (full names) in one forward that stops after the deepest of them.

    Layers above the deepest requested site are never computed, so reading early layers of
    many texts (probing, top-activating tokens) costs only the blocks actually needed.
    """
    wanted = list(dict.fromkeys(sites))
    cache: dict[str, torch.Tensor] = {}

    def keep(value: torch.Tensor, site: str) -> None:
        cache[site] = value.detach()
        if len(cache) == len(wanted):
            raise StopForward

    try:
        with torch.no_grad(), lm.hooks([(name, keep) for name in wanted]):
            lm.forward(ids, attention_mask=attention_mask, logits_to_keep=1)
    except StopForward:
        pass
    return cache
