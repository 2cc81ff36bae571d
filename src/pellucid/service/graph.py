"""Attribution graphs as a user verb: ``pellucid inspect graph PROMPT --transcoders DIR``.

The parameters are resolved through :data:`pellucid.features.specs.GRAPH` (torch-free) and the
transcoder folder is checked before any model loads (:func:`check_graph`); :func:`graph` loads
the transcoders for the model, checks them against it, and runs
:func:`pellucid.features.graph.engine.attribution_graph` (which takes the model's exclusive lease
for its hooked passes, and whose forward passes run the caller's cancellation checks).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError
from pellucid.features.specs import GRAPH

if TYPE_CHECKING:
    from pellucid.features.graph.result import AttributionGraph
    from pellucid.models import LM


def check_graph(transcoders: str | Path, **params: Any) -> dict[str, Any]:
    """Resolve the parameters and check that ``transcoders`` is a folder (before the model loads)."""
    resolved = GRAPH.resolve(params)
    if not Path(transcoders).is_dir():
        raise InvalidInputError(
            f"--transcoders {str(transcoders)!r} is not a folder; give the --out folder of "
            "`pellucid features train --transcoder --layers all`."
        )
    return resolved


def graph(
    lm: LM, prompt: str, transcoders: str | Path, *, progress: Callable[[int, int], None] | None = None, **params: Any
) -> AttributionGraph:
    """The attribution graph of ``prompt`` over the transcoders in ``transcoders`` (parameters as ``GRAPH``)."""
    from pellucid.features.graph.engine import attribution_graph
    from pellucid.features.graph.transcoders import load_transcoders

    resolved = check_graph(transcoders, **params)
    return attribution_graph(lm, prompt, load_transcoders(transcoders, lm), progress=progress, **resolved)
