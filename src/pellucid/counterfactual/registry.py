"""The generators, by the name users type, and the one verb that runs any of them.

    edits = generate_edits("The movie was awful.", "typos", seed=1, n=5, rate=0.2)

An explicit dict (no import-time discovery): adding a generator is adding its spec here.
"""

from __future__ import annotations

from typing import Any

from pellucid.counterfactual import gen_demographic, gen_model, gen_text, injection
from pellucid.counterfactual.base import Edit, GenContext, GeneratorSpec
from pellucid.errors import InvalidInputError, unknown_name

GENERATORS: dict[str, GeneratorSpec] = {
    spec.name: spec
    for spec in (
        *gen_text.SPECS[:2],  # identity, word_replace
        gen_demographic.SPEC,
        *gen_text.SPECS[2:],  # synonyms, typos, case_and_whitespace, scramble, drop_word
        *gen_model.SPECS,  # paraphrase, ablation_flip
        injection.SPEC,
    )
}


def get_generator(name: str) -> GeneratorSpec:
    if name not in GENERATORS:
        raise unknown_name("generator", name, GENERATORS, "See `pellucid generators`.")
    return GENERATORS[name]


def parse_generator_list(spec: str) -> list[str]:
    """``"typos,synonyms"`` -> names, each checked against the registry."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise InvalidInputError(
            f"No generator named in {spec!r}; give e.g. typos,synonyms (see `pellucid generators`)."
        )
    for name in names:
        get_generator(name)
    return names


def generate_edits(
    text: str, name: str, ctx: GenContext | None = None, *, seed: int | None = None, **params: Any
) -> list[Edit]:
    """Edited versions of ``text`` made by generator ``name`` (deterministic given the seed)."""
    spec = get_generator(name)
    ctx = ctx or GenContext()
    if seed is not None:
        ctx.seed = seed
    return spec.fn(text, ctx, **spec.resolve_params(params))


def list_generators() -> list[dict[str, Any]]:
    return [spec.describe() for spec in GENERATORS.values()]
