"""Responsible-AI audit: bias, stereotypes, toxicity, PII, groundedness, constitution, robustness, injection.

Each check is a function returning a :class:`~pellucid.audit.result.CheckResult`::

    import pellucid as pl
    lm = pl.load_model()
    pl.audit.stereotypes(lm, "crows_pairs_anonymized.csv", limit=200)
    pl.audit.bias(lm)                       # built-in templates × demographic swaps
    pl.audit.toxicity(lm)                   # built-in prompts, lexicon + alt-profanity-check
    pl.audit.pii_audit(lm)                  # detection + leakage probe (pl.audit.pii is the detector module)
    pl.audit.groundedness("rag.jsonl", encoder=pl.load_encoder())
    pl.audit.constitution(lm, "principles.yaml", "items.jsonl")
    pl.audit.robustness(lm); pl.audit.injection(lm)
    report = pl.audit.run_audit(lm, "bias,pii")            # several, never stopping at an error
    html = pl.audit.report_page(report)                    # one self-contained HTML page
    card = pl.audit.model_card(report)                     # a Hugging Face model card (README.md)

Names load lazily: ``pellucid.audit.pii`` (the regex detector the gateway imports) never pulls
in torch through this package.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CheckResult": "result",
    "AuditReport": "result",
    "stereotypes": "stereotypes_check",
    "bias": "bias_check",
    "toxicity": "toxicity_check",
    "pii_audit": "pii_check",
    "build_detector": "pii_check",
    "groundedness": "groundedness_check",
    "constitution": "constitution_check",
    "robustness": "wrappers",
    "injection": "wrappers",
    "run_audit": "runner",
    "CHECKS": "runner",
    "report_page": "report_html",
    "model_card": "card",
}

__all__ = sorted(_EXPORTS)


# Module names never equal exported function names (``bias_check`` holds ``bias``): importing a
# submodule binds its name on the package, which would otherwise hide the function.
def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"pellucid.audit.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'pellucid.audit' has no attribute {name!r}")
