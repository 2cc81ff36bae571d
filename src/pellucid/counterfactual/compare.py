"""``counterfactual()``: one prompt and its edited versions, side by side.

For the original prompt and each edit the model answers (greedy generation), and the *target*
— the text given with ``target=``, or else the original answer itself — is scored teacher-forced
after every prompt in one batched pass. Reported per edit:

- ``delta_logprob``: log p(target | edited) − log p(target | original) (summed over the target's
  tokens); with a ``foil``, also the change of the contrast log p(target) − log p(foil);
- the generated answers compared: exact match (after case/punctuation folding), token edit
  distance, and cosine similarity of their MiniLM embeddings (when an encoder is given);
- the word-level diff between the original and the edited prompt.

A replacement pattern that occurs nowhere in the prompt raises :class:`InvalidInputError`
(naming it) instead of producing a silent "no change".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pellucid.counterfactual.base import Edit, GenContext
from pellucid.counterfactual.batch_score import score_continuations
from pellucid.counterfactual.gen_text import replace_pairs
from pellucid.counterfactual.lexicons import parse_pairs
from pellucid.counterfactual.metrics import cosine, exact_match
from pellucid.counterfactual.registry import generate_edits
from pellucid.counterfactual.words import DiffOp, token_edit_distance, word_diff, words
from pellucid.errors import InvalidInputError
from pellucid.types import _json_safe

if TYPE_CHECKING:
    import numpy as np

    from pellucid.models import LM, Encoder
    from pellucid.types import Generation


@dataclass(frozen=True)
class Variant:
    """One prompt (the original or an edit) with the model's answer and the target's scores."""

    prompt: str
    answer: str
    answer_ids: list[int]
    target_logprob: float
    foil_logprob: float | None = None
    edit: Edit | None = None
    delta_logprob: float = 0.0
    delta_contrast: float | None = None
    exact_match: bool = True
    token_edit_distance: int = 0
    similarity: float | None = None
    diff: list[DiffOp] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "prompt": self.prompt,
                "answer": self.answer,
                "target_logprob": self.target_logprob,
                "foil_logprob": self.foil_logprob,
                "edit": self.edit.to_dict() if self.edit else None,
                "delta_logprob": self.delta_logprob,
                "delta_contrast": self.delta_contrast,
                "exact_match": self.exact_match,
                "token_edit_distance": self.token_edit_distance,
                "similarity": self.similarity,
                "diff": [d.to_dict() for d in self.diff],
            }
        )


@dataclass(frozen=True)
class CounterfactualResult:
    """The original and every edited variant; ``unmatched`` lists replacement patterns that matched nothing."""

    model: str
    target: str
    target_is_answer: bool
    foil: str | None
    original: Variant
    variants: list[Variant]
    unmatched: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "counterfactual",
            "model": self.model,
            "target": self.target,
            "target_is_answer": self.target_is_answer,
            "foil": self.foil,
            "original": self.original.to_dict(),
            "variants": [v.to_dict() for v in self.variants],
            "unmatched": list(self.unmatched),
            "params": _json_safe(self.params),
        }


def replacement_edits(
    prompt: str, replace: Sequence[str] | str, *, strict: bool = True
) -> tuple[list[Edit], list[str]]:
    """One edit applying every ``old=>new`` pair; patterns that match nothing raise (or are returned)."""
    pairs = parse_pairs(replace)
    if not pairs:
        raise InvalidInputError("No replacement given; write one as --replace 'old=>new'.")
    edit, unmatched = replace_pairs(prompt, pairs)
    if unmatched and strict:
        shown = ", ".join(repr(w) for w in dict.fromkeys(words(prompt)) if w.isalnum())
        raise InvalidInputError(
            f"Replacement pattern {unmatched[0]!r} occurs nowhere in the prompt (whole words, any case); "
            f"the prompt's words are: {shown[:300]}. Fix the spelling or choose a word of the prompt."
        )
    return ([edit] if edit.changes else []), unmatched


def _sequence_logprobs(lm: LM, ids: list[list[int]], text: str) -> list[float]:
    """log p(``text``) after each prompt, summed over its tokens, scored in one batched call."""
    return [float(x.sum()) for x in score_continuations(lm, ids, [lm.encode_target(text)] * len(ids))]


def _variant(
    prompt: str,
    edit: Edit,
    base: Generation,
    gen: Generation,
    target: tuple[float, float],
    foil: tuple[float | None, float | None],
    vectors: np.ndarray | None,
    k: int,
) -> Variant:
    """Edit ``k`` compared with the original: its answer, the change of the target's log-probability
    (and of the target − foil contrast), and how far its answer moved from the original one.
    ``target`` and ``foil`` hold the (original, edited) log-probabilities."""
    contrast = None
    if foil[0] is not None and foil[1] is not None:
        contrast = (target[1] - foil[1]) - (target[0] - foil[0])
    return Variant(
        prompt=edit.text,
        answer=gen.text,
        answer_ids=gen.token_ids,
        target_logprob=target[1],
        foil_logprob=foil[1],
        edit=edit,
        delta_logprob=target[1] - target[0],
        delta_contrast=contrast,
        exact_match=exact_match(gen.text, base.text),
        token_edit_distance=token_edit_distance(base.token_ids, gen.token_ids),
        similarity=None if vectors is None else round(cosine(vectors[0], vectors[k]), 6),
        diff=word_diff(prompt, edit.text),
    )


def counterfactual(
    lm: LM,
    prompt: str,
    *,
    replace: Sequence[str] | str | None = None,
    generator: str | None = None,
    generator_params: dict[str, Any] | None = None,
    edits: Sequence[Edit] | None = None,
    target: str | None = None,
    foil: str | None = None,
    encoder: Encoder | None = None,
    chat: bool | None = None,
    system: str | None = None,
    max_new_tokens: int = 32,
    seed: int = 0,
    strict: bool = True,
) -> CounterfactualResult:
    """Run ``prompt`` and its edits (from ``replace`` pairs, a ``generator`` or given ``edits``)."""
    if not prompt.strip():
        raise InvalidInputError("The prompt is empty; give the text to edit.")
    all_edits: list[Edit] = list(edits or [])
    unmatched: list[str] = []
    if replace:
        found, unmatched = replacement_edits(prompt, replace, strict=strict)
        all_edits += found
    if generator:
        ctx = GenContext(seed=seed, lm=lm, encoder=encoder, chat=chat, system=system)
        all_edits += generate_edits(prompt, generator, ctx, **(generator_params or {}))
    if not all_edits:
        raise InvalidInputError(
            "No edited prompt to compare: give --replace 'old=>new' or a --generator that applies to this prompt."
        )
    prompts = [prompt, *(e.text for e in all_edits)]
    gens = [lm.generate(p, chat=chat, system=system, max_new_tokens=max_new_tokens) for p in prompts]
    target_text = target if target is not None else gens[0].text
    if not target_text:
        raise InvalidInputError("The model's answer to the original prompt is empty; pass --target to score a text.")
    ids = [lm.encode(p, chat=chat, system=system).ids for p in prompts]
    t_scores = _sequence_logprobs(lm, ids, target_text)
    f_scores: list[float | None] = [None] * len(ids) if foil is None else list(_sequence_logprobs(lm, ids, foil))
    vectors = encoder.embed([g.text for g in gens]) if encoder is not None else None
    original = Variant(prompt, gens[0].text, gens[0].token_ids, t_scores[0], f_scores[0])
    variants = [
        _variant(prompt, edit, gens[0], gens[k], (t_scores[0], t_scores[k]), (f_scores[0], f_scores[k]), vectors, k)
        for k, edit in enumerate(all_edits, 1)
    ]
    params = {"generator": generator, "replace": replace, "max_new_tokens": max_new_tokens, "seed": seed, "chat": chat}
    return CounterfactualResult(lm.name, target_text, target is None, foil, original, variants, unmatched, params)
