"""Steering: push the model along a direction in its residual stream while it generates.

If a concept is represented linearly, adding a vector to the residual stream at one layer
should make the model behave as if the concept were present. *Activation addition*
(Turner et al. 2023, "Steering Language Models With Activation Engineering") and
*contrastive activation addition* (Rimsky et al. 2024, "Steering Llama 2 via Contrastive
Activation Addition") take the vector as the difference of mean activations between two
sets of prompts (e.g. positive vs negative reviews); a linear probe's weight vector
(:class:`pellucid.inspect.probing.LinearProbe`) is another choice (Li et al. 2023,
"Inference-Time Intervention").

:func:`steer` generates once per coefficient, with ``coefficient * direction`` added at
every position passing through the chosen site, and returns the generations side by side.
Coefficient 0 adds exactly zero, so it reproduces the unsteered generation token for token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pellucid.errors import InvalidInputError
from pellucid.inspect import _common as c
from pellucid.inspect.features import POOLINGS, pooled_activations
from pellucid.types import Explanation

if TYPE_CHECKING:
    from pellucid.inspect.probing import LinearProbe
    from pellucid.models.lm import LM, Prompt


def steering_vector(
    lm: LM,
    positive: Sequence[str],
    negative: Sequence[str],
    *,
    layer: int,
    site: str = "resid_post",
    pooling: str = "mean",
    chat: bool | None = False,
) -> np.ndarray:
    """``mean(activation | positive) − mean(activation | negative)`` at one layer, ``[D]``."""
    c.check_site(site, c.STREAM_SITES)
    c.check_choice("pooling", pooling, POOLINGS)
    if not positive or not negative:
        raise InvalidInputError("A steering vector needs at least one positive and one negative prompt.")
    (index,) = c.resolve_layers(lm, layer)
    pos = pooled_activations(lm, positive, index, site=site, pooling=pooling, chat=chat)
    neg = pooled_activations(lm, negative, index, site=site, pooling=pooling, chat=chat)
    return (pos.mean(0) - neg.mean(0)).astype(np.float32)


def _as_vector(lm: LM, direction: np.ndarray | torch.Tensor | LinearProbe, normalize: bool) -> torch.Tensor:
    if hasattr(direction, "direction") and hasattr(direction, "coef_"):  # a fitted LinearProbe
        direction = direction.direction()
    vector = torch.as_tensor(
        np.asarray(direction, dtype=np.float32)
        if not isinstance(direction, torch.Tensor)
        else direction.detach().float()
    )
    if vector.shape != (lm.d_model,):
        raise InvalidInputError(
            f"The direction has shape {tuple(vector.shape)}; {lm.name} needs a vector of length d_model={lm.d_model}."
        )
    if not torch.isfinite(vector).all():
        raise InvalidInputError("The direction contains NaN or infinite values.")
    if normalize:
        norm = vector.norm()
        if norm == 0:
            raise InvalidInputError("The direction is all zeros, so it cannot be normalised; check the prompt sets.")
        vector = vector / norm
    return vector.to(device=lm.device, dtype=lm.embedding_matrix().dtype)


def _check_steer_args(lm: LM, site: str, layer: int, coefficients: Sequence[float]) -> tuple[str, int]:
    """The checked stream site and layer index; at least one coefficient is needed."""
    site = c.check_site(site, c.STREAM_SITES)
    (index,) = c.resolve_layers(lm, layer)
    if not coefficients:
        raise InvalidInputError("No coefficients given; pass e.g. coefficients=[0, 4, 8].")
    return site, index


def _logprob_grid(generations: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Each generation's token log-probabilities as a row ``[coefficient, step]`` (NaN after it
    ends), with the coefficient and step labels."""
    scores = np.full((len(generations), max(1, *(len(g["tokens"]) for g in generations))), np.nan)
    for row, g in enumerate(generations):
        scores[row, : len(g["logprobs"])] = g["logprobs"]
    labels = {
        "coefficient": [f"{g['coefficient']:+g}" for g in generations],
        "step": [str(i + 1) for i in range(scores.shape[1])],
    }
    return scores, labels


def steer(
    lm: LM,
    prompt: Prompt,
    *,
    direction: np.ndarray | torch.Tensor | LinearProbe,
    layer: int,
    coefficients: Sequence[float] = (0.0, 4.0, 8.0),
    site: str = "resid_post",
    normalize: bool = False,
    max_new_tokens: int = 32,
    chat: bool | None = None,
    temperature: float = 0.0,
    seed: int | None = None,
) -> Explanation:
    """Generate with ``coefficient * direction`` added at ``blocks.{layer}.{site}``, per coefficient.

    Args:
        direction: a ``[d_model]`` vector (e.g. from :func:`steering_vector`) or a fitted
            :class:`LinearProbe` (its unit direction towards its last class).
        coefficients: one generation each; include 0 for the unsteered baseline.
        normalize: scale the direction to unit length first.
        chat: apply the chat template (default: when the model has one, as ``lm.generate``).

    Returns an :class:`Explanation` over ``("coefficient", "step")`` holding each generated
    token's log-probability (NaN after a generation ends); ``meta["generations"]`` has the
    texts side by side.
    """
    watch = c.Stopwatch()
    site, index = _check_steer_args(lm, site, layer, coefficients)
    vector = _as_vector(lm, direction, normalize)
    generations = [
        _generate(lm, prompt, float(k), vector, f"blocks.{index}.{site}", chat, max_new_tokens, temperature, seed)
        for k in coefficients
    ]
    scores, labels = _logprob_grid(generations)
    return Explanation(
        scores=scores,
        axes=("coefficient", "step"),
        labels=labels,
        method="activation_steering",
        model=lm.name,
        kind="steering",
        signed=True,
        params={
            "layer": index, "site": site, "coefficients": [float(x) for x in coefficients], "normalize": normalize,
            "max_new_tokens": max_new_tokens, "chat": chat, "temperature": temperature, "seed": seed,
        },
        meta={"generations": generations, "direction_norm": float(vector.float().norm()),
              "forward_passes": len(generations), "seconds": watch.seconds()},
    )  # fmt: skip


def _generate(
    lm: LM, prompt: Prompt, coefficient: float, vector: torch.Tensor, site: str, chat: bool | None,
    max_new_tokens: int, temperature: float, seed: int | None,
) -> dict[str, Any]:  # fmt: skip
    """One generation with ``coefficient * vector`` added at ``site`` (every position, every step)."""
    shift = coefficient * vector

    def add(x: torch.Tensor, _site: str) -> torch.Tensor:
        return x + shift

    with lm.hooks({site: add}):
        out = lm.generate(prompt, chat=chat, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    return {"coefficient": coefficient, "text": out.text, "tokens": out.tokens, "logprobs": out.logprobs,
            "finish_reason": out.finish_reason}  # fmt: skip
