"""What every attribution method shares: declared parameters, the run context, baselines.

A method is a :class:`MethodSpec`: a name, a description, its parameters (each a
:class:`~pellucid.spec.Param` that says its type, default, range and help — enough for the CLI
and the web form to be generated without per-method code), whether its scores are signed, and a function
``fn(ctx, **params) -> (scores [R, F], meta)`` that scores the ``F`` features of the prompt for
each of the ``R`` rows of the target function (see :mod:`pellucid.attribution.engine`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pellucid.attribution.engine import Scorer, TargetSpec
from pellucid.attribution.features import Units
from pellucid.errors import InvalidInputError
from pellucid.models import LM
from pellucid.spec import Param, Spec
from pellucid.types import Encoding

Progress = Callable[[int, int], None]


@dataclass
class Context:
    """Everything a method needs for one explanation."""

    lm: LM
    encoding: Encoding
    units: Units
    spec: TargetSpec
    scorer: Scorer
    seed: int = 0
    progress: Progress | None = None

    @property
    def n_features(self) -> int:
        return len(self.units.features)

    def report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)


MethodFn = Callable[..., "tuple[np.ndarray, dict[str, Any]]"]


@dataclass(frozen=True)
class MethodSpec:
    """One attribution method: its interface and its function."""

    name: str
    description: str
    fn: MethodFn
    params: tuple[Param, ...] = ()
    signed: bool = True
    kind: str = "attribution"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> Spec:
        """The method's parameters as a :class:`~pellucid.spec.Spec`."""
        return Spec(self.name, self.params, owner=f"Method {self.name!r}")

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, user values coerced; unknown names rejected with the valid list."""
        return self.spec.resolve(given)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "signed": self.signed,
            "kind": self.kind,
            "params": [p.to_dict() for p in self.params],
        }


def baseline_token(lm: LM, baseline: str | int) -> int:
    """Token id used to replace removed tokens: ``pad``, ``unk``, ``eos``, an id, or a one-token string."""
    tok = lm.tokenizer
    if isinstance(baseline, int) or (isinstance(baseline, str) and baseline.isdigit()):
        value = int(baseline)
        if not 0 <= value < lm.vocab_size:
            raise InvalidInputError(f"Baseline token id {value} is outside the vocabulary 0..{lm.vocab_size - 1}.")
        return value
    named = {"pad": tok.pad_token_id, "unk": tok.unk_token_id, "eos": tok.eos_token_id}
    if baseline in named:
        found = named[baseline]
        if found is None and baseline == "pad":
            found = tok.unk_token_id if tok.unk_token_id is not None else tok.eos_token_id
        if found is None:
            raise InvalidInputError(f"This tokenizer has no {baseline} token; use baseline='pad', 'eos' or a token id.")
        return int(found)
    ids = tok(baseline, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise InvalidInputError(
            f"Baseline {baseline!r} is {len(ids)} tokens; give a single token, a token id, or pad/unk/eos."
        )
    return int(ids[0])


def mask_variants(ctx: Context, masks: np.ndarray, replacement: int) -> Any:
    """Token-id variants ``[N, P]``: features where ``masks[n, f]`` is False are replaced."""
    import torch

    base = torch.tensor(ctx.encoding.ids, dtype=torch.long)
    variants = base.repeat(len(masks), 1)
    for f, positions in enumerate(ctx.units.feature_positions):
        off = torch.from_numpy(~masks[:, f].astype(bool))
        if off.any():
            variants[off.nonzero().squeeze(1)[:, None], torch.tensor(positions)[None, :]] = replacement
    return variants


def score_masks(ctx: Context, masks: np.ndarray, replacement: int, chunk: int = 256) -> np.ndarray:
    """``F`` for each coalition mask ``[N, F]`` -> ``[N, R]``, with progress.

    Identical masks (frequent when samplers favour tiny and near-full coalitions) are scored once.
    """
    unique, inverse = np.unique(masks, axis=0, return_inverse=True)
    scored = np.empty((len(unique), ctx.scorer.n_rows))
    for start in range(0, len(unique), chunk):
        part = unique[start : start + chunk]
        scored[start : start + len(part)] = ctx.scorer.score(mask_variants(ctx, part, replacement)).numpy()
        ctx.report(min(start + chunk, len(unique)), len(unique))
    return scored[inverse.reshape(-1)]
