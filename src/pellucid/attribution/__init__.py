"""Attribution: which parts of the prompt made the model say this, for every target token.

``explain(lm, prompt, target=None, method="occlusion", **params)`` runs any method in
:data:`METHODS` and returns an :class:`~pellucid.types.Explanation` with axes
``("target", "input")``. All perturbation methods share one batched, KV-cached scorer
(:mod:`pellucid.attribution.engine`); gradient methods differentiate the same target function.
"""

from pellucid.attribution.explain import METHODS, explain, get_method

__all__ = ["METHODS", "explain", "get_method"]
