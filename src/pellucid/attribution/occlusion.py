"""Occlusion (leave-one-out): how much does the target drop when a feature is removed?

Each feature (token, word, sentence...) is replaced by a baseline token and the target is
scored again; its attribution is ``F(original) - F(occluded)``. With ``span > 1`` a window of
``span`` consecutive features is occluded at a time (stride 1) and each feature gets the mean
effect of the windows that contain it, as Captum's sliding-window ``Occlusion`` does.

All occluded prompts are scored by the shared engine in batches, reusing the cached keys and
values of the prompt up to the first occluded position, and every target token comes from one
teacher-forced pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pellucid.attribution.base import Context, MethodSpec, Param, baseline_token, score_masks
from pellucid.errors import InvalidInputError


def occlusion(ctx: Context, baseline: str = "pad", span: int = 1) -> tuple[np.ndarray, dict[str, Any]]:
    n = ctx.n_features
    if span > n:
        raise InvalidInputError(f"span={span} is wider than the {n} features of the prompt; use span <= {n}.")
    replacement = baseline_token(ctx.lm, baseline)
    windows = n - span + 1
    masks = np.ones((windows + 1, n), dtype=bool)  # row 0: the original prompt
    for w in range(windows):
        masks[w + 1, w : w + span] = False
    values = score_masks(ctx, masks, replacement)
    deltas = values[0][None, :] - values[1:]  # [W, R]
    totals = np.zeros((n, values.shape[1]))
    counts = np.zeros(n)
    for w in range(windows):
        totals[w : w + span] += deltas[w]
        counts[w : w + span] += 1
    scores = (totals / counts[:, None]).T  # [R, F]
    return scores, {"baseline_token_id": replacement, "original_values": values[0].tolist()}


OCCLUSION = MethodSpec(
    name="occlusion",
    description="Leave-one-out: the drop in the target when each feature is replaced by a baseline token.",
    fn=occlusion,
    params=(
        Param("baseline", "str", "pad", "Replacement token: pad, unk, eos, a token id or a one-token string."),
        Param("span", "int", 1, "Features occluded together (sliding window, stride 1).", min=1),
    ),
)
