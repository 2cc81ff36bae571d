"""Pellucid: explain, audit and monitor open-weight language models, offline.

    import pellucid as pl
    lm = pl.load_model("smollm2-135m-instruct")
    lm.generate("What is the capital of France?").text

Heavy dependencies (torch, transformers) load on first use, so ``import pellucid`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError, ModelLoadError, ModelNotFoundError, PellucidError
from pellucid.settings import Settings
from pellucid.types import Encoding, Explanation, Generation, TokenScores

if TYPE_CHECKING:
    from pellucid.models import LM, Encoder

__version__ = "0.1.0"

__all__ = [
    "Encoding",
    "Explanation",
    "Generation",
    "InvalidInputError",
    "ModelLoadError",
    "ModelNotFoundError",
    "PellucidError",
    "Settings",
    "TokenScores",
    "audit",
    "counterfactual",
    "explain",
    "inspect",
    "load_encoder",
    "load_model",
    "monitor",
]


def __getattr__(name: str) -> Any:
    """Load the subpackages (``pl.inspect``, ``pl.monitor``, ``pl.audit``, ...) on first use."""
    if name in ("inspect", "monitor", "attribution", "audit", "counterfactual"):
        import importlib

        return importlib.import_module(f"pellucid.{name}")
    raise AttributeError(f"module 'pellucid' has no attribute {name!r}")


def load_model(name_or_path: str | None = None, settings: Settings | None = None, **kwargs: Any) -> LM:
    """Load a causal LM: a bundled name, a local folder, a ``.gguf`` file or a hub id.

    Keyword arguments go to :meth:`pellucid.models.LM.load` (``dtype``, ``trust_remote_code``,
    ``allow_pickle``, ``revision``, ``attn_implementation``).
    """
    from pellucid.models import LM

    settings = settings or Settings.from_env()
    return LM.load(name_or_path or settings.default_model, settings, **kwargs)


def load_encoder(name_or_path: str = "all-minilm-l6-v2", settings: Settings | None = None) -> Encoder:
    """Load a sentence encoder (the bundled MiniLM by default)."""
    from pellucid.models import Encoder

    return Encoder.load(name_or_path, settings)


def explain(lm: LM, prompt: Any, target: str | None = None, method: str = "occlusion", **params: Any) -> Explanation:
    """Attribute ``target`` (or the model's own answer) to the prompt with ``method``.

    See :func:`pellucid.attribution.explain` for every option (``foil``, ``granularity``,
    ``target_kind``, method parameters such as ``steps=``).
    """
    from pellucid.attribution import explain as _explain

    return _explain(lm, prompt, target, method, **params)
