"""The model pool: each model loaded once per process and shared by every verb.

Entry points never load a model themselves: a server keeps one :class:`ModelPool` for its
lifetime and hands it to the service; a command that runs once loads its model with
:func:`load_model`. Sentence encoders (MiniLM, for embeddings and similarity) live in the same
pool, so the server's enrichment worker and its counterfactual route share one copy.

The pool also keeps one continuous-batching engine per served model (:meth:`ModelPool.engine`,
see :mod:`pellucid.models.batching`), started on the model's first served request and stopped by
:meth:`ModelPool.close_engines` when the server shuts down.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from pellucid.settings import Settings

if TYPE_CHECKING:
    from pellucid.models import LM, Encoder
    from pellucid.models.batch_stats import EngineMetrics
    from pellucid.models.batching import BatchEngine

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
        self._engines: dict[str, BatchEngine] = {}
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

    def engine(self, name: str | None = None) -> BatchEngine:
        """The continuous-batching engine serving model ``name`` (created on first use, sized by the settings)."""
        from pellucid.models.batching import BatchEngine

        key = name or self.settings.default_model
        lm = self.get(key)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None or engine.lm is not lm:
                engine = BatchEngine(lm, max_batch=self.settings.max_batch, max_queue=self.settings.max_queue)
                self._engines[key] = engine
            return engine

    def engine_metrics(self) -> list[EngineMetrics]:
        """The serving figures of every engine started so far, by model name."""
        with self._lock:
            engines = list(self._engines.values())
        return [engine.metrics() for engine in engines]

    def close_engines(self) -> None:
        """Stop every engine; requests still in them end with a 'retry later' error."""
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.close()

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
