"""The model pool: each model loaded once per process and shared by every verb.

Entry points never load a model themselves: a server keeps one :class:`ModelPool` for its
lifetime and hands it to the service; a command that runs once loads its model with
:func:`load_model`. Sentence encoders (MiniLM, for embeddings and similarity) live in the same
pool, so the server's enrichment worker and its counterfactual route share one copy.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.models import LM, Encoder

log = logging.getLogger(__name__)

#: The sentence encoder used when none is named (bundled with Pellucid).
DEFAULT_ENCODER = "all-minilm-l6-v2"


def load_model(name: str | None, settings: Settings) -> LM:
    """Load a causal LM (``None``: the default model) outside any pool."""
    from pellucid.models import LM

    return LM.load(name or settings.default_model, settings)


def load_encoder(name: str | None, settings: Settings) -> Encoder:
    """Load a sentence encoder (``None``: the bundled MiniLM) outside any pool."""
    from pellucid.models import Encoder

    return Encoder.load(name or DEFAULT_ENCODER, settings)


def bundled_models(kind: str = "causal_lm") -> list[str]:
    """The names of the models shipped with Pellucid of this kind (``causal_lm`` or ``encoder``),
    read from the registry without loading anything."""
    from pellucid.models.registry import bundled_names

    return bundled_names(kind)


class ModelPool:
    """Loaded models and encoders by name, each loaded once and shared (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: dict[str, LM] = {}
        self._encoders: dict[str, Encoder] = {}
        self._lock = threading.Lock()

    def get(self, name: str | None = None) -> LM:
        key = name or self.settings.default_model
        with self._lock:
            if key not in self._models:
                log.info("loading model %s", key)
                self._models[key] = load_model(key, self.settings)
            return self._models[key]

    def add(self, lm: LM, name: str | None = None) -> None:
        """Register an already-loaded model (tests, notebooks)."""
        with self._lock:
            self._models[name or lm.name] = lm

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def encoder(self, name: str | None = None) -> Encoder:
        """The sentence encoder ``name`` (default: the bundled MiniLM), loaded on first use."""
        key = name or DEFAULT_ENCODER
        with self._lock:
            if key not in self._encoders:
                log.info("loading encoder %s", key)
                self._encoders[key] = load_encoder(key, self.settings)
            return self._encoders[key]

    def add_encoder(self, encoder: Encoder, name: str | None = None) -> None:
        """Register an already-loaded encoder (tests, notebooks)."""
        with self._lock:
            self._encoders[name or encoder.name] = encoder
