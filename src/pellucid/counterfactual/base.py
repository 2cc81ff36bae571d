"""What every generator shares: the :class:`Edit` it returns, its context and its declaration.

A *generator* turns one prompt into edited prompts. It is declared as a
:class:`GeneratorSpec` — a name, a description, its parameters (the same
:class:`~pellucid.spec.Param` the attribution methods use, so the CLI and a web
form need no per-generator code), and whether it needs the model or the sentence encoder —
with a function ``fn(text, ctx, **params) -> list[Edit]``.

Every :class:`Edit` lists its :class:`~pellucid.counterfactual.words.Change` records, so
``apply_changes(original, edit.changes) == edit.text`` holds for every generator whose changes
are local (the contract test checks it). Generators are deterministic given ``ctx.seed``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pellucid.counterfactual.words import Change, apply_changes
from pellucid.errors import InvalidInputError
from pellucid.spec import Param, Spec

if TYPE_CHECKING:
    from pellucid.models import LM, Encoder

__all__ = ["Change", "Edit", "GenContext", "GeneratorSpec", "Param"]


@dataclass(frozen=True)
class Edit:
    """One edited prompt.

    Attributes:
        text: the edited prompt.
        generator: the generator's name.
        changes: character spans of the original that were replaced (empty for ``identity``).
        label: a short description of this edit (``"typos#1"``, ``"gender: he->she"``...).
        meta: generator-specific details (similarity of a paraphrase, the injection's canary...).
    """

    text: str
    generator: str
    changes: tuple[Change, ...] = ()
    label: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def check(self, original: str) -> bool:
        """Whether applying :attr:`changes` to ``original`` gives :attr:`text` exactly."""
        try:
            return apply_changes(original, self.changes) == self.text
        except ValueError:
            return False

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "generator": self.generator,
            "label": self.label,
            "changes": [c.to_dict() for c in self.changes],
            "meta": dict(self.meta),
        }


@dataclass
class GenContext:
    """What a generator may use: a seed, and for some generators the model, encoder and answers.

    ``options`` are the answer options of a classification task (``[" positive", " negative"]``);
    ``ablation_flip`` uses them to decide whether the answer flipped. ``prompt_template`` wraps the
    edited text into the full prompt the model sees (``"Review: {text}\\nSentiment:"``).
    """

    seed: int = 0
    lm: LM | None = None
    encoder: Encoder | None = None
    options: Sequence[str] | None = None
    prompt_template: str = "{text}"
    chat: bool | None = None
    system: str | None = None

    def rng(self, *salt: object) -> random.Random:
        """A private random generator seeded by the seed and ``salt`` (stable across runs)."""
        return random.Random(repr((self.seed, *salt)))

    def require_lm(self, generator: str) -> LM:
        if self.lm is None:
            raise InvalidInputError(f"Generator {generator!r} needs a model; pass lm=... (the CLI loads one).")
        return self.lm

    def require_encoder(self, generator: str) -> Encoder:
        if self.encoder is None:
            raise InvalidInputError(f"Generator {generator!r} needs the sentence encoder; pass encoder=load_encoder().")
        return self.encoder

    def render(self, text: str) -> str:
        return self.prompt_template.replace("{text}", text)


GeneratorFn = Callable[..., "list[Edit]"]


@dataclass(frozen=True)
class GeneratorSpec:
    """One generator: its interface and its function."""

    name: str
    description: str
    fn: GeneratorFn
    params: tuple[Param, ...] = ()
    needs: tuple[str, ...] = ()  # "lm", "encoder"
    local: bool = True  # its changes are word/character spans (checkable with apply_changes)

    @property
    def spec(self) -> Spec:
        """The generator's parameters as a :class:`~pellucid.spec.Spec`."""
        return Spec(self.name, self.params, owner=f"Generator {self.name!r}")

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, user values coerced; unknown names rejected with the valid list."""
        return self.spec.resolve(given)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "needs": list(self.needs),
            "params": [p.to_dict() for p in self.params],
        }
