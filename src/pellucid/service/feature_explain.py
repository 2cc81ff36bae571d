"""Features as explanations: attribute a target to a dictionary's latents, ablate them, steer along one.

``pellucid explain PROMPT --target T --features DIR``, ``pellucid features ablate`` and
``pellucid inspect steer --feature DIR:ID`` end here. The dictionary folder is read (and checked
against the loaded model) here; the torch-level work is :mod:`pellucid.features.attribution`
and :mod:`pellucid.features.interventions`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

    from pellucid.features.dictionary import SparseDictionary
    from pellucid.models import LM
    from pellucid.models.lm import Prompt


def check_folder(folder: str | Path) -> Path:
    """The dictionary folder, checked before any model loads."""
    from pellucid.features.saelens_format import CFG_FILE

    path = Path(folder)
    if not (path / CFG_FILE).is_file():
        raise InvalidInputError(
            f"{str(path)!r} is not a dictionary folder (no {CFG_FILE}); give a folder written by "
            "`pellucid features train` or by SAELens."
        )
    return path


def parse_feature(spec: str) -> tuple[Path, int]:
    """``DIR:ID`` -> (folder, latent id), checked before any model loads."""
    folder, sep, latent = spec.rpartition(":")
    if not sep or not folder or not latent.strip().isdigit():
        raise InvalidInputError(
            f"--feature {spec!r}; give the dictionary folder and a latent id as DIR:ID, e.g. sae/:123."
        )
    return check_folder(folder), int(latent)


def _load(lm: LM, folder: str | Path) -> SparseDictionary:
    from pellucid.features.saelens_format import load

    return load(check_folder(folder), lm)


def explain(
    lm: LM, prompt: Prompt, target: str, folder: str | Path, *, chat: bool | None = None, verify: int = 5, top: int = 10
) -> dict[str, Any]:
    """The target attributed to the dictionary's latents; the top latents carry their logit effects."""
    from pellucid.features.attribution import attribute_features
    from pellucid.features.show import logit_effects

    if top < 1:
        raise InvalidInputError(f"top={top}; give how many features to list (at least 1).")
    dictionary = _load(lm, folder)
    result = attribute_features(lm, prompt, target, dictionary, chat=chat, verify=verify)
    out = result.to_dict()
    out["folder"] = str(folder)
    out["top"] = []
    for latent, attribution in result.by_latent()[:top]:
        promoted, suppressed = logit_effects(lm, dictionary, latent, top=5)
        where = [n.token for n in result.features if n.latent == latent][:5]
        out["top"].append({"latent": latent, "attribution": attribution, "tokens": where,
                           "promotes": [w for w, _ in promoted], "suppresses": [w for w, _ in suppressed]})  # fmt: skip
    return out


def ablate(
    lm: LM, prompt: Prompt, target: str, folder: str | Path, latents: list[int], *, scale: float = 0.0,
    chat: bool | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The target's log-probability with the latents scaled by ``scale`` wherever they fire."""
    from pellucid.features.interventions import ablate_latents

    return ablate_latents(lm, prompt, target, _load(lm, folder), latents, scale=scale, chat=chat)


def steering_direction(lm: LM, folder: str | Path, latent: int) -> tuple[torch.Tensor, int, str]:
    """The unit decoder direction of one latent, with the layer and stream site it writes."""
    from pellucid.features.interventions import steering_direction as direction

    return direction(_load(lm, folder), latent)
