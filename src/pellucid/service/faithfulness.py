"""How faithful is an attribution? One prompt, or several methods over a data set.

:func:`faithfulness` explains one prompt and scores the explanation (ERASER comprehensiveness
and sufficiency, deletion/insertion AOPC against random orders); :func:`faithfulness_table`
compares methods over many prompts. Both are :mod:`pellucid.attribution.faithfulness`'s
computations on a loaded model (``pellucid faithfulness``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from pellucid.models import LM

Progress = Callable[[int, int], None]


def faithfulness(
    lm: LM,
    prompt: str,
    target: str | None = None,
    *,
    method: str = "occlusion",
    chat: bool | None = None,
    granularity: str = "word",
    n_random: int = 3,
    seed: int = 0,
    progress: Progress | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Explain ``prompt`` with ``method``, then score how faithful the explanation is.

    ``progress`` follows the explanation; ``on_stage("faithfulness")`` is called when the
    scoring starts (it reports no progress of its own).
    """
    from pellucid.attribution import explain
    from pellucid.attribution.faithfulness import faithfulness as score

    ex = explain(lm, prompt, target, method=method, chat=chat, granularity=granularity, seed=seed, progress=progress)
    if on_stage is not None:
        on_stage("faithfulness")
    return score(lm, ex, n_random=n_random, seed=seed)


def faithfulness_table(
    lm: LM,
    prompts: list[str],
    targets: list[str | None],
    methods: list[str],
    *,
    progress: Progress | None = None,
    **options: Any,
) -> pd.DataFrame:
    """One row per method, each figure averaged over the prompts; options as for
    :func:`pellucid.attribution.faithfulness.faithfulness_table` (``chat``, ``granularity``...)."""
    from pellucid.attribution.faithfulness import faithfulness_table as table

    return table(lm, prompts, targets, methods, progress, **options)
