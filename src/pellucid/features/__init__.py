"""Sparse features of the model's own activations: dictionaries (SAEs and transcoders) trained here.

A dictionary rewrites the activation at one site as a sparse combination of learned directions
(:class:`SparseDictionary`). This package trains one on activations streamed from the model
(:func:`train_dictionary`), saves and loads it in SAELens' folder layout, and evaluates it on
held-out text::

    import pellucid as pl
    from pellucid import features

    lm = pl.load_model()
    result = features.train_dictionary(lm, "corpus.txt", "blocks.15.resid_post", latents=4608, k=32)
    features.save(result.dictionary, "sae/", result.log_sparsity)
    sae = features.load("sae/", lm)                       # refuses another model or width
    report = features.evaluate(lm, sae, "held_out.txt")   # FVE, L0, dead/dense latents, CE recovered
    z = sae.encode(activations)                           # [..., d_sae]

Names load lazily, so importing :mod:`pellucid.features.specs` (the parameters the CLI shows)
never loads torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SparseDictionary": "dictionary",
    "DictionaryConfig": "dictionary",
    "ARCHITECTURES": "dictionary",
    "save": "saelens_format",
    "load": "saelens_format",
    "load_sparsity": "saelens_format",
    "check_compatible": "saelens_format",
    "site_from_hook": "saelens_format",
    "hook_from_site": "saelens_format",
    "ActivationStream": "activations",
    "iter_texts": "corpus",
    "check_corpus": "corpus",
    "fit": "train",
    "TrainConfig": "train",
    "TrainResult": "train",
    "TensorSource": "train",
    "train_dictionary": "pipeline",
    "evaluate": "evaluate",
    "EvalReport": "evaluate",
    "show_feature": "show",
    "FeatureView": "show",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"pellucid.features.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'pellucid.features' has no attribute {name!r}")
