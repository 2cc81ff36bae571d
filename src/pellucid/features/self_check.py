"""Whether a self-check supports its result: measured against predicted change, in words when it does not.

Feature attribution and attribution graphs both predict what ablating their top features does to
the target and then measure it on the real model. A ratio ``measured / predicted`` near 1 says the
linear picture holds for those features; far from it (or of the opposite sign) the result must say
so instead of looking like any other (:func:`verdict`).
"""

from __future__ import annotations

from typing import Any

#: measured / predicted within these bounds: the linear picture holds for the ablated features
AGREEMENT_BOUNDS = (0.5, 2.0)


def verdict(measured: float, predicted: float, consequence: str) -> dict[str, Any]:
    """``{"holds": True}``, or ``holds: False`` with a ``warning`` naming both figures and ``consequence``."""
    low, high = AGREEMENT_BOUNDS
    if predicted and low <= measured / predicted <= high:
        return {"holds": True}
    return {
        "holds": False,
        "warning": f"ablating the top features moved the target by {measured:.3g} in the real model, but the "
        f"prediction is {predicted:.3g}: the linear picture does not hold for them on this prompt, so {consequence}",
    }
