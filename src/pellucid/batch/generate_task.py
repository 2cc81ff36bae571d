"""Generate (or score) an answer for every prompt of a data set — the model work of ``pellucid eval``.

Items are ``{"row", "prompt", "prediction"}``: an item without a prediction gets the model's
greedy answer and its token log-probabilities; an item with one gets the log-probabilities of
that prediction when ``score_given`` is set (perplexity of given predictions). Rows are
``{"row", "prediction", "logprobs", "generated", "error"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pellucid.batch.task import Task
from pellucid.errors import PellucidError


@dataclass
class GenerateTask(Task):
    """Greedy answers (and log-probabilities) for a block of prompts."""

    raw: bool = False
    system: str | None = None
    max_new_tokens: int = 64
    score_given: bool = False

    name = "generate"

    def parameters(self) -> dict[str, Any]:
        return {"raw": self.raw, "system": self.system, "max_new_tokens": self.max_new_tokens,
                "score_given": self.score_given}  # fmt: skip

    def setup(self) -> None:
        from pellucid.models import LM

        self._lm = LM.load(self.model_name(), self.settings)

    def run_block(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._one(item) for item in items]

    def _one(self, item: dict[str, Any]) -> dict[str, Any]:
        chat = False if self.raw else None
        given = item.get("prediction")
        try:
            if given is None:
                out = self._lm.generate(item["prompt"], chat=chat, system=self.system,
                                        max_new_tokens=self.max_new_tokens)  # fmt: skip
                return {"row": item["row"], "prediction": out.text, "logprobs": list(out.logprobs),
                        "generated": True, "error": None}  # fmt: skip
            logprobs = self._lm.score(item["prompt"], given, chat=chat).logprobs if self.score_given and given else None
            return {"row": item["row"], "prediction": given, "logprobs": None if logprobs is None else list(logprobs),
                    "generated": False, "error": None}  # fmt: skip
        except PellucidError as exc:
            return {"row": item["row"], "prediction": None, "logprobs": None, "generated": given is None,
                    "error": str(exc)}  # fmt: skip
