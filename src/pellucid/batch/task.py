"""What a batch job runs: a :class:`Task` turns a block of input items into result rows.

A task is a small picklable object holding only its configuration (model name, method,
parameters). The backend calls :meth:`Task.setup` once in each process that runs blocks — the
local process, or each Ray actor — which is where the model is loaded, then :meth:`Task.run_block`
for every block it is given. Results must depend only on the item and the configuration, never
on which block or worker ran it: seeds are derived from the item's stable ``row`` number, so the
local and the Ray backend write the same rows.

A failure that belongs to one item (a prompt too long for the model, say) becomes that item's
``error`` column instead of stopping the job; anything else stops it, and the blocks already
written are kept for the resumed run.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pellucid.settings import Settings


@dataclass
class Task(ABC):
    """Base class of batch tasks; subclasses are dataclasses holding their parameters.

    Attributes:
        settings: where models live (picklable; sent to every worker).
        model: the model name, folder or file each worker loads.
        threads: torch threads per worker (``None``: torch's default, or the CPUs Ray grants).
    """

    settings: Settings = field(default_factory=Settings.from_env)
    model: str | None = None
    threads: int | None = None

    #: the name written in the manifest and shown in progress bars
    name = "task"

    def __post_init__(self) -> None:
        self._ready = False

    def model_name(self) -> str:
        return self.model or self.settings.default_model

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the rows: a resumed job must present the same fingerprint."""
        return {"task": self.name, "model": self.model_name(), **self.parameters()}

    @abstractmethod
    def parameters(self) -> dict[str, Any]:
        """The task's parameters as plain JSON values."""

    def ensure_setup(self) -> None:
        if not self._ready:
            if self.threads:
                import torch

                torch.set_num_threads(self.threads)
            self.setup()
            self._ready = True

    def validate(self) -> None:  # noqa: B027 - optional hook
        """Check the parameters cheaply (no model loading), before any file is written."""

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load what every block needs (models); called once per process before any block."""

    @abstractmethod
    def run_block(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Result rows of one block of items (each item has its stable ``row`` number)."""

    def __getstate__(self) -> dict[str, Any]:
        """Only the configuration travels to workers; loaded models stay where they were loaded."""
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._ready = False


def digest(items: Sequence[Any]) -> str:
    """A stable digest of the input items (part of a job's fingerprint)."""
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]
