"""One short function per user verb, shared by the CLI and the HTTP API.

The package holds one module per group of verbs; this module re-exports them.

- :mod:`.pool` — :class:`ModelPool` (models and sentence encoders, each loaded once) and
  :func:`load_model` / :func:`load_encoder` for commands that run once;
- :mod:`.audit` — run an audit and keep it in the store, one check, the calls of a traffic audit;
- :mod:`.counterfactual` — compare a prompt with its edits, robustness, chain of thought, injection;
- :mod:`.faithfulness` — explain and score how faithful the explanation is;
- :mod:`.records` — explain a logged record on the model that answered it;
- :mod:`.enrichment`, :mod:`.drift`, :mod:`.evaluation` — the model's part of monitoring
  (embeddings, perplexity, flags; hidden-state drift; evaluation runs), handing plain values to
  :mod:`pellucid.monitor`. They import the store's code, so they load on first use
  (``service.drift``) and ``import pellucid.service`` stays cheap.

Entry points parse their input, call one function here, and render what it returns. The
functions here orchestrate: they get a model from the pool, call the method, and return plain
result types from :mod:`pellucid.types`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pellucid.service import audit, counterfactual, faithfulness, records
from pellucid.service.inspect import run_inspect as run_inspect
from pellucid.service.pool import ModelPool, load_encoder, load_model
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


def check_explain(
    method: str, params: dict[str, Any], *, target_kind: str, granularity: str, segments: tuple[str, ...]
) -> None:
    """Refuse a bad explanation request before any model loads (see :func:`pellucid.attribution.check_request`)."""
    from pellucid.attribution.explain import check_request

    check_request(method, params, target_kind=target_kind, granularity=granularity, segments=segments)


def explain(lm: LM, prompt: str, *, raw: bool = False, **kwargs: Any) -> Explanation:
    """Attribute a target (or the model's own answer) to the prompt; see :func:`pellucid.attribution.explain`."""
    from pellucid.attribution import explain as _explain

    return _explain(lm, prompt, chat=not raw and lm.is_chat, **kwargs)


#: Verb modules that import the monitoring store's code, loaded on first attribute access.
_STORE_MODULES = ("drift", "enrichment", "evaluation")


def __getattr__(name: str) -> Any:
    if name in _STORE_MODULES:
        import importlib

        return importlib.import_module(f"pellucid.service.{name}")
    raise AttributeError(f"module 'pellucid.service' has no attribute {name!r}")


__all__ = ["ModelPool", "check_explain", "explain", "generate", "list_methods", "list_models", "score"]
__all__ += ["audit", "counterfactual", "drift", "enrichment", "evaluation", "faithfulness", "records"]
__all__ += ["load_encoder", "load_model"]
