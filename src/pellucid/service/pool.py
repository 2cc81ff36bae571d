"""The model pool: each model loaded once per process and shared by every verb."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.models import LM

log = logging.getLogger(__name__)


class ModelPool:
    """Loaded models by name, each loaded once and shared (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: dict[str, LM] = {}
        self._lock = threading.Lock()

    def get(self, name: str | None = None) -> LM:
        from pellucid.models import LM

        key = name or self.settings.default_model
        with self._lock:
            if key not in self._models:
                log.info("loading model %s", key)
                self._models[key] = LM.load(key, self.settings)
            return self._models[key]

    def add(self, lm: LM, name: str | None = None) -> None:
        """Register an already-loaded model (tests, notebooks)."""
        with self._lock:
            self._models[name or lm.name] = lm

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._models)
