"""``explain()``: the one verb shared by every attribution method.

    ex = explain(lm, "What is the capital of France?", target=" Paris", method="occlusion")

Steps: encode the prompt (chat template, segments, words); generate the answer when no target
is given; group tokens into units (``granularity``), of which those in ``segments`` (the user's
message by default) are perturbed; build the shared :class:`~pellucid.attribution.engine.Scorer`;
run the method; return an :class:`~pellucid.types.Explanation` with axes ``("target", "input")``
— one row per target token plus one for the whole sequence — where unattributed units (the
template, the system prompt) have NaN scores.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from pellucid.attribution.attention import ATTENTION, ATTENTION_ROLLOUT
from pellucid.attribution.base import Context, MethodSpec, Progress
from pellucid.attribution.engine import TARGET_KINDS, Scorer, TargetSpec
from pellucid.attribution.features import GRANULARITIES, Units, build_units, restrict_to_span
from pellucid.attribution.gradients import GRAD_X_INPUT, INTEGRATED_GRADIENTS, SALIENCY
from pellucid.attribution.lime import LIME
from pellucid.attribution.lrp import LRP
from pellucid.attribution.occlusion import OCCLUSION
from pellucid.attribution.shapley import KERNEL_SHAP, SHAPLEY
from pellucid.errors import InvalidInputError, unknown_name
from pellucid.models import LM
from pellucid.models.tokens import Message
from pellucid.types import SEGMENTS, Encoding, Explanation

#: Every attribution method, by the name users type.
METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        OCCLUSION,
        SALIENCY,
        GRAD_X_INPUT,
        INTEGRATED_GRADIENTS,
        LRP,
        LIME,
        KERNEL_SHAP,
        SHAPLEY,
        ATTENTION,
        ATTENTION_ROLLOUT,
    )
}


def get_method(name: str) -> MethodSpec:
    if name not in METHODS:
        raise unknown_name("attribution method", name, METHODS)
    return METHODS[name]


def _target_spec(lm: LM, target_ids: list[int], foil: str | None, kind: str) -> TargetSpec:
    if kind not in TARGET_KINDS:
        raise InvalidInputError(f"target_kind={kind!r}; choose one of {', '.join(TARGET_KINDS)}.")
    foil_ids = lm.encode_target(foil) if foil is not None else None
    return TargetSpec(
        ids=target_ids,
        tokens=lm.decode_tokens(target_ids),
        kind=kind,  # type: ignore[arg-type]
        foil_ids=foil_ids,
        foil_tokens=lm.decode_tokens(foil_ids) if foil_ids else None,
    )


def target_note(lm: LM, prompt_text: str, target: str, target_ids: list[int]) -> str | None:
    """Say how the target was split when that differs from how it reads after the prompt.

    The target is tokenized on its own; if the tokenizer splits ``prompt + target`` differently
    at the boundary (typically a missing or extra leading space), the attributed tokens are ones
    the model would rarely produce there, and the user should know which tokens were explained.
    """
    glued = prompt_text[-1:].isalnum() and target[:1].isalnum()
    joint = [int(i) for i in lm.tokenizer(prompt_text + target, add_special_tokens=False)["input_ids"]]
    alone = lm.decode_tokens(target_ids)
    if joint[-len(target_ids) :] == target_ids:
        if glued:
            return (
                f"The target {target!r} follows the prompt with no space, so the model is scored on reading "
                f"{(prompt_text[-12:] + target)!r}; add a leading space (e.g. {' ' + target!r}) to explain a new word."
            )
        return None
    prompt_ids = [int(i) for i in lm.tokenizer(prompt_text, add_special_tokens=False)["input_ids"]]
    shared = 0
    while shared < min(len(joint), len(prompt_ids)) and joint[shared] == prompt_ids[shared]:
        shared += 1
    in_context = lm.decode_tokens(joint[shared:])
    return (
        f"The target {target!r} was attributed as the tokens {alone}; after this prompt the tokenizer would split "
        f"the same text as {in_context}, so the model is scored on a split it rarely produces."
    )


def check_request(
    method: str,
    params: dict[str, Any],
    *,
    target_kind: str = "logprob",
    granularity: str = "word",
    segments: Sequence[str] = ("user",),
) -> dict[str, Any]:
    """Everything about an explanation request that needs no model, checked: the method and its
    parameters (resolved, returned), the target kind, the granularity and the segments.

    Entry points call it before loading a model, so a misspelt option fails in a fraction of a
    second instead of after the load; :func:`explain` calls it too.
    """
    resolved = get_method(method).resolve_params(params)
    if target_kind not in TARGET_KINDS:
        raise InvalidInputError(f"target_kind={target_kind!r}; choose one of {', '.join(TARGET_KINDS)}.")
    if granularity not in GRANULARITIES:
        raise InvalidInputError(f"Unknown granularity {granularity!r}; choose one of {', '.join(GRANULARITIES)}.")
    unknown = [s for s in segments if s not in SEGMENTS]
    if unknown or not segments:
        raise InvalidInputError(
            f"Unknown segment {unknown[0] if unknown else ''!r}; attribute some of {', '.join(SEGMENTS)} "
            "(comma-separated, e.g. --segments user,system)."
        )
    return resolved


def _target_ids(
    lm: LM,
    prompt: str | Sequence[Message],
    target: str | None,
    chat: bool,
    system: str | None,
    max_new_tokens: int,
) -> tuple[list[int], str | None]:
    """The target's token ids, and the generated text when the target is the model's own answer."""
    if target is not None:
        return lm.encode_target(target), None
    generation = lm.generate(prompt, chat=chat, system=system, max_new_tokens=max_new_tokens)
    if not generation.token_ids:
        raise InvalidInputError("The model generated nothing to explain; pass a target text instead.")
    return generation.token_ids, generation.text


def _recorded_params(
    resolved: dict[str, Any], target_kind: str, granularity: str, segments: Sequence[str], seed: int
) -> dict[str, Any]:
    """The parameters an explanation records: the method's own (resolved), then the request's."""
    return {
        **resolved,
        "target_kind": target_kind,
        "granularity": granularity,
        "segments": list(segments),
        "seed": seed,
    }


def _full_grid(feature_scores: np.ndarray, n_rows: int, units: Units) -> np.ndarray:
    """Scores over every input unit ``[target row, unit]``: NaN on units that were not attributed."""
    scores = np.full((n_rows, len(units)), np.nan)
    scores[:, units.features] = feature_scores
    return scores


def _target_meta(
    lm: LM, enc: Encoding, target: str | None, target_ids: list[int], generated: str | None, foil: str | None
) -> dict[str, Any]:
    """What was explained: the prompt as the model read it, the target (given or generated) and the foil."""
    return {
        "prompt_text": enc.text,
        "chat": enc.chat,
        "target_text": target if target is not None else generated,
        "generated": generated is not None,
        "target_token_ids": target_ids,
        "foil": foil,
        "target_note": target_note(lm, enc.text, target, target_ids) if target is not None else None,
    }


def _input_label_info(units: Units) -> dict[str, list[Any]]:
    """Per input unit: its segment, its token positions and whether it was attributed."""
    features = set(units.features)
    return {
        "segment": units.segments,
        "positions": units.positions,
        "attributed": [u in features for u in range(len(units))],
    }


def _encode(
    lm: LM, prompt: str | Sequence[Message], chat: bool | None, system: str | None, text_span: tuple[int, int] | None
) -> Encoding:
    """The prompt's encoding; with ``text_span``, only that part of the user's message is attributed."""
    enc = lm.encode(prompt, chat=chat, system=system)
    if text_span is None:
        return enc
    if not isinstance(prompt, str):
        raise InvalidInputError("text_span=... needs the prompt as one string (the user's message), not messages.")
    return restrict_to_span(enc, prompt, (int(text_span[0]), int(text_span[1])))


def _context(
    lm: LM, enc: Encoding, tspec: TargetSpec, granularity: str, segments: Sequence[str], *, cache: bool,
    batch_tokens: int, seed: int, progress: Progress | None,
) -> Context:  # fmt: skip
    """What a method works on: the features, and a scorer that reruns the model from the first of them."""
    units = build_units(enc, granularity, tuple(segments))
    first_feature = min(units.feature_positions[0])
    scorer = Scorer(lm, enc.ids, tspec, prefix_len=first_feature, cache=cache, batch_tokens=batch_tokens)
    return Context(lm=lm, encoding=enc, units=units, spec=tspec, scorer=scorer, seed=seed, progress=progress)


def explain(
    lm: LM,
    prompt: str | Sequence[Message],
    target: str | None = None,
    method: str = "occlusion",
    *,
    foil: str | None = None,
    target_kind: str = "logprob",
    granularity: str = "word",
    segments: Sequence[str] = ("user",),
    chat: bool | None = None,
    system: str | None = None,
    max_new_tokens: int = 32,
    seed: int = 0,
    batch_tokens: int = 1024,
    cache: bool = True,
    progress: Progress | None = None,
    text_span: tuple[int, int] | None = None,
    **params: Any,
) -> Explanation:
    """Attribute the target (or the model's own answer) to the prompt's features.

    ``text_span`` (character offsets into a string ``prompt``) attributes only that part of the user's
    message, the rest being fixed context: a data-set row's text inside a template.
    """
    resolved = check_request(method, params, target_kind=target_kind, granularity=granularity, segments=segments)
    spec = get_method(method)
    started = time.perf_counter()
    enc = _encode(lm, prompt, chat, system, text_span)
    target_ids, generated = _target_ids(lm, prompt, target, enc.chat, system, max_new_tokens)
    tspec = _target_spec(lm, target_ids, foil, target_kind)
    ctx = _context(lm, enc, tspec, granularity, segments, cache=cache, batch_tokens=batch_tokens, seed=seed,
                   progress=progress)  # fmt: skip
    feature_scores, method_meta = spec.fn(ctx, **resolved)
    units, scorer = ctx.units, ctx.scorer
    meta = {
        **method_meta, "forward_passes": scorer.forward_passes, "seconds": round(time.perf_counter() - started, 4),
        **_target_meta(lm, enc, target, target_ids, generated, foil), "label_info": {"input": _input_label_info(units)},
    }  # fmt: skip
    return Explanation(
        scores=_full_grid(feature_scores, scorer.n_rows, units),
        axes=("target", "input"),
        labels={"target": tspec.row_labels(), "input": units.labels},
        method=method,
        model=lm.name,
        kind=spec.kind,
        signed=spec.signed,
        params=_recorded_params(resolved, target_kind, granularity, segments, seed),
        meta=meta,
    )
