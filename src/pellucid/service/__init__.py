"""One short function per user verb, shared by the CLI and the HTTP API.

The package holds one module per group of verbs; this module re-exports them.

Entry points parse their input, call one function here, and render what it returns. The
functions here orchestrate: they get a model from the pool, call the method, and return plain
result types from :mod:`pellucid.types`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pellucid.service.inspect import run_inspect as run_inspect
from pellucid.service.pool import ModelPool
from pellucid.settings import Settings
from pellucid.types import Explanation, Generation, TokenScores

if TYPE_CHECKING:
    from pellucid.models import LM
    from pellucid.models.catalog import CatalogEntry


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

__all__ = ["ModelPool", "explain", "generate", "list_methods", "list_models", "score"]
