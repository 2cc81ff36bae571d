"""Counterfactual verbs: "what if the prompt were different?", robustness, chain of thought, injection.

Each function takes the loaded model and, where a generator or a similarity needs the sentence
encoder, the :class:`~pellucid.service.pool.ModelPool` it comes from — entry points never load an
encoder themselves. The computations are :mod:`pellucid.counterfactual`'s.

- :func:`compare`: a prompt and its edits (``old=>new`` replacements and/or a generator's
  edits), each answered and scored (``pellucid counterfactual``);
- :func:`compare_variants`: one hand-edited prompt, or at most ``max_edits`` edits made by a
  generator, identical edits left out (``POST /api/counterfactuals``);
- :func:`robustness`, :func:`chain_of_thought`, :func:`injection`: the data-set and suite verbs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError

if TYPE_CHECKING:
    from pellucid.counterfactual.base import Edit
    from pellucid.counterfactual.compare import CounterfactualResult
    from pellucid.counterfactual.cot import CotResult
    from pellucid.counterfactual.dataset import Example
    from pellucid.counterfactual.injection import InjectionReport
    from pellucid.counterfactual.robustness import RobustnessConfig, RobustnessReport
    from pellucid.models import LM, Encoder
    from pellucid.service.pool import ModelPool


def list_generators() -> list[dict[str, Any]]:
    """Every edit generator with its description, needs and parameters."""
    from pellucid.counterfactual.registry import list_generators as described

    return described()


def generator_defaults(name: str) -> dict[str, Any]:
    """The default of each parameter of generator ``name`` (an unknown name lists the valid ones)."""
    from pellucid.counterfactual.registry import get_generator

    return {p.name: p.default for p in get_generator(name).params}


def _needs_encoder(generators: Sequence[str]) -> bool:
    from pellucid.counterfactual.registry import get_generator

    return any("encoder" in get_generator(name).needs for name in generators)


def _encoder(pool: ModelPool | None, why: str) -> Encoder:
    if pool is None:
        raise InvalidInputError(f"{why} needs the sentence encoder; pass pool= (a ModelPool) to load it.")
    return pool.encoder()


def compare(
    lm: LM,
    prompt: str,
    *,
    replace: Sequence[str] | None = None,
    generator: str | None = None,
    generator_params: dict[str, Any] | None = None,
    pool: ModelPool | None = None,
    similarity: bool = False,
    target: str | None = None,
    foil: str | None = None,
    chat: bool | None = None,
    system: str | None = None,
    max_new_tokens: int = 32,
    seed: int = 0,
) -> CounterfactualResult:
    """Answer and score ``prompt`` and every edit; with ``similarity``, also the embedding
    similarity of each edited answer to the original one (the encoder comes from ``pool``)."""
    from pellucid.counterfactual.compare import counterfactual

    encoder = None
    if similarity or (generator is not None and _needs_encoder([generator])):
        encoder = _encoder(pool, "similarity" if similarity else f"The {generator} generator")
    return counterfactual(
        lm, prompt, replace=replace, generator=generator, generator_params=generator_params, target=target,
        foil=foil, encoder=encoder, chat=chat, system=system, max_new_tokens=max_new_tokens, seed=seed,
    )  # fmt: skip


def generated_edits(
    lm: LM,
    prompt: str,
    generator: str,
    params: dict[str, Any],
    *,
    pool: ModelPool | None = None,
    chat: bool | None = None,
    system: str | None = None,
    seed: int = 0,
    limit: int | None = None,
) -> tuple[list[Edit], bool]:
    """The edits of ``prompt`` made by ``generator`` that change it (at most ``limit``), and whether
    some were left out; an error when the generator made no edit."""
    from pellucid.counterfactual.base import GenContext
    from pellucid.counterfactual.registry import generate_edits, get_generator

    spec = get_generator(generator)
    encoder = _encoder(pool, f"The {spec.name} generator") if "encoder" in spec.needs else None
    ctx = GenContext(seed=seed, lm=lm, encoder=encoder, chat=chat, system=system)
    edits = [e for e in generate_edits(prompt, spec.name, ctx, **params) if e.text != prompt]
    if not edits:
        raise InvalidInputError(
            f"The {spec.name} generator made no edit of this prompt ({spec.description}); "
            "try another generator or other parameters."
        )
    if limit is None:
        return edits, False
    return edits[:limit], len(edits) > limit


def compare_variants(
    lm: LM,
    prompt: str,
    *,
    edited: str | None = None,
    generator: str | None = None,
    generator_params: dict[str, Any] | None = None,
    pool: ModelPool | None = None,
    max_edits: int | None = None,
    target: str | None = None,
    foil: str | None = None,
    chat: bool | None = None,
    system: str | None = None,
    max_new_tokens: int = 32,
    seed: int = 0,
) -> tuple[CounterfactualResult, bool]:
    """Compare ``prompt`` with a hand-edited version (``edited``) or with the edits ``generator``
    makes (at most ``max_edits``); returns the result and whether generated edits were left out."""
    from pellucid.counterfactual.base import Edit
    from pellucid.counterfactual.compare import counterfactual

    truncated = False
    if generator is not None:
        edits, truncated = generated_edits(
            lm, prompt, generator, dict(generator_params or {}), pool=pool, chat=chat, system=system, seed=seed,
            limit=max_edits,
        )  # fmt: skip
    elif edited is not None:
        edits = [Edit(text=edited, generator="manual", label="edited prompt")]
    else:
        raise InvalidInputError("Nothing to compare: give the edited prompt (edited) or a generator that makes edits.")
    result = counterfactual(
        lm, prompt, edits=edits, target=target, foil=foil, chat=chat, system=system, max_new_tokens=max_new_tokens,
        seed=seed,
    )  # fmt: skip
    return result, truncated


def robustness(
    lm: LM,
    examples: Sequence[Example],
    config: RobustnessConfig,
    *,
    pool: ModelPool | None = None,
    skipped_empty: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> RobustnessReport:
    """Flip rates of ``lm``'s answers to ``examples`` under every generator of ``config``."""
    from pellucid.counterfactual.robustness import run_robustness

    encoder = _encoder(pool, "A generator of this run") if _needs_encoder(config.generators) else None
    return run_robustness(lm, examples, config, encoder=encoder, skipped_empty=skipped_empty, progress=progress)


def chain_of_thought(lm: LM, question: str, **options: Any) -> CotResult:
    """Does the stated reasoning drive the answer? Options as for
    :func:`pellucid.counterfactual.cot.cot_faithfulness`."""
    from pellucid.counterfactual.cot import cot_faithfulness

    return cot_faithfulness(lm, question, **options)


def injection(lm: LM, system: str, *, task: str | None = None, **options: Any) -> InjectionReport:
    """The prompt-injection suite against ``system`` (``task``: the user's message with
    ``{attack}``, default the built-in one); options as for :func:`pellucid.counterfactual.injection.run_injection`."""
    from pellucid.counterfactual.injection import DEFAULT_TASK, run_injection

    return run_injection(lm, system, task=task or DEFAULT_TASK, **options)
