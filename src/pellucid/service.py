"""One short function per user verb, shared by the CLI and the HTTP API.

Entry points parse their input, call one function here, and render what it returns. The
functions here orchestrate: they get a model from the pool, call the method, and return plain
result types from :mod:`pellucid.types`.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from pellucid.settings import Settings
from pellucid.types import Explanation, Generation, TokenScores

if TYPE_CHECKING:
    from pellucid.models import LM
    from pellucid.models.catalog import CatalogEntry

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


def list_models(settings: Settings) -> list[CatalogEntry]:
    from pellucid.models.catalog import list_models as _list

    return _list(settings.models_dir)


def generate(lm: LM, prompt: str, *, raw: bool = False, system: str | None = None, **params: Any) -> Generation:
    return lm.generate(prompt, chat=not raw and lm.is_chat, system=system, **params)


def score(lm: LM, prompt: str, target: str, *, raw: bool = False, system: str | None = None) -> TokenScores:
    return lm.score(prompt, target, chat=not raw and lm.is_chat, system=system)


def list_methods() -> list[dict[str, Any]]:
    """Every attribution method with its parameters (for ``pellucid methods`` and the web form)."""
    from pellucid.attribution import METHODS

    return [spec.describe() for spec in METHODS.values()]


def explain(lm: LM, prompt: str, *, raw: bool = False, **kwargs: Any) -> Explanation:
    """Attribute a target (or the model's own answer) to the prompt; see :func:`pellucid.attribution.explain`."""
    from pellucid.attribution import explain as _explain

    return _explain(lm, prompt, chat=not raw and lm.is_chat, **kwargs)
