"""Robustness over a data set in blocks: per-edit rows on the workers, one report on the driver.

Items are ``{"row", "text", "label"}`` (an :class:`~pellucid.counterfactual.dataset.Example`).
Each block runs :func:`~pellucid.counterfactual.robustness.robustness_rows`; because every
example's edits are seeded by its row number, the rows do not depend on how the data set was cut
into blocks, and :func:`~pellucid.counterfactual.robustness.summarise_rows` over all of them gives
the same report as :func:`~pellucid.counterfactual.robustness.run_robustness` in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pellucid.batch.task import Task
from pellucid.counterfactual.robustness import RobustnessConfig
from pellucid.types import _json_safe

if TYPE_CHECKING:
    from pellucid.counterfactual.dataset import Example


@dataclass
class RobustnessTask(Task):
    """Edit each example with every generator and score the answers (see the module docstring)."""

    config: RobustnessConfig = field(default_factory=lambda: RobustnessConfig(generators=("typos",)))

    name = "robustness"

    def parameters(self) -> dict[str, Any]:
        return dict(_json_safe(dict(self.config.__dict__)))

    def validate(self) -> None:
        self.config.check()

    def setup(self) -> None:
        from pellucid.counterfactual.registry import get_generator
        from pellucid.models import LM

        self._lm = LM.load(self.model_name(), self.settings)
        self._encoder = None
        if any("encoder" in get_generator(n).needs for n in self.config.generators):
            from pellucid import load_encoder

            self._encoder = load_encoder(settings=self.settings)

    def run_block(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        from pellucid.counterfactual.robustness import robustness_rows

        return robustness_rows(self._lm, examples_of(items), self.config, encoder=self._encoder)


def items_of(examples: Sequence[Example]) -> list[dict[str, Any]]:
    """Batch items for the examples that have text (empty ones are skipped and counted by the caller)."""
    return [{"row": ex.row, "text": ex.text, "label": ex.label} for ex in examples if ex.text.strip()]


def examples_of(items: Sequence[dict[str, Any]]) -> list[Example]:
    from pellucid.counterfactual.dataset import Example

    return [Example(row=int(i["row"]), text=str(i["text"]), label=i.get("label")) for i in items]
