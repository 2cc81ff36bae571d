"""Attribution graphs as the workbench shows them: the served transcoder sets, a graph, a node's contexts.

The server is told which transcoder sets to serve (``pellucid serve --transcoders DIR``,
``PELLUCID_TRANSCODERS``); each is a folder of per-layer transcoders known by the folder's name.

- :func:`check_transcoder_sets` runs at startup: each folder is read as
  :func:`~pellucid.features.graph.transcoders.describe_transcoders` reads it (configurations
  only, no model), so a bad folder fails with the errors ``pellucid inspect graph`` gives.
- :func:`list_transcoder_sets` describes each set (or says why it cannot be read).
- :func:`prepare_graph` checks a request before any work: the parameters through
  :data:`pellucid.features.specs.GRAPH`, the transcoders against the model, the prompt's length
  and the target; :func:`build_graph` then runs
  :func:`~pellucid.features.graph.engine.attribution_graph` (its hooked passes hold the model's
  exclusive lease) with progress.
- :func:`node_contexts` is the Features tab's feature page
  (:func:`pellucid.service.feature_views.feature_page`) of a feature node's latent, on the
  transcoder folder of its layer, kept per (set, layer, latent).

Loaded transcoder sets are kept per (model, folder, weights files' times), like dictionaries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError, unknown_name
from pellucid.features.specs import GRAPH

if TYPE_CHECKING:
    from pellucid.features.graph.result import AttributionGraph
    from pellucid.features.graph.transcoders import TranscoderSet
    from pellucid.models import LM
    from pellucid.monitor.store import Store

#: feature pages kept for hovering (oldest dropped first)
CONTEXTS_KEPT = 256

_SETS: dict[tuple[int, str, tuple[int, ...]], TranscoderSet] = {}
_CONTEXTS: OrderedDict[tuple[str, int, int], dict[str, Any]] = OrderedDict()
_LOCK = threading.Lock()


def transcoder_sets(folders: Iterable[Path]) -> dict[str, Path]:
    """The served transcoder sets by folder name; two different folders with one name are refused."""
    named: dict[str, Path] = {}
    for folder in folders:
        name = Path(folder).resolve().name
        if name in named and named[name].resolve() != Path(folder).resolve():
            raise InvalidInputError(
                f"Two transcoder folders share the name {name!r}: {str(named[name])!r} and {str(folder)!r}; "
                "rename one (the folder name is how the workbench knows a set)."
            )
        named[name] = Path(folder)
    return named


def check_transcoder_sets(folders: Iterable[Path]) -> None:
    """Read every folder's configurations (no model); the first bad one raises its clear error."""
    from pellucid.features.graph.transcoders import describe_transcoders

    for name, folder in transcoder_sets(folders).items():
        try:
            describe_transcoders(folder)
        except InvalidInputError as exc:
            raise InvalidInputError(f"--transcoders {name}: {exc}") from None


def set_folder(sets: dict[str, Path], name: str) -> Path:
    """The folder of the served transcoder set ``name``."""
    if name not in sets:
        hint = "Start the server with --transcoders DIR (or PELLUCID_TRANSCODERS) to serve a transcoder set."
        raise unknown_name("transcoder set", name, sets, hint)
    return sets[name]


def list_transcoder_sets(sets: dict[str, Path]) -> list[dict[str, Any]]:
    """Name, folder, model, layers and width of each served set (``error`` when it cannot be read)."""
    from pellucid.features.graph.transcoders import describe_transcoders

    out: list[dict[str, Any]] = []
    for name, folder in sets.items():
        try:
            described = describe_transcoders(folder)
        except (InvalidInputError, OSError) as exc:
            out.append({"name": name, "folder": str(folder), "error": str(exc)})
            continue
        described.pop("folders")
        out.append({"name": name, "folder": str(folder), **described})
    return out


def load_set(lm: LM, folder: Path) -> TranscoderSet:
    """The transcoders in ``folder`` for ``lm`` (every layer, checked against it), loaded once."""
    from pellucid.features.graph.transcoders import describe_transcoders, load_transcoders
    from pellucid.features.saelens_format import WEIGHTS_FILE

    layers = describe_transcoders(folder)["folders"].values()
    times = tuple((p / WEIGHTS_FILE).stat().st_mtime_ns if (p / WEIGHTS_FILE).is_file() else 0 for p in layers)
    key = (id(lm), str(folder.resolve()), times)
    with _LOCK:
        if key not in _SETS:
            _SETS[key] = load_transcoders(folder, lm)
        return _SETS[key]


def prepare_graph(lm: LM, folder: Path, prompt: str, params: dict[str, Any]) -> tuple[TranscoderSet, dict[str, Any]]:
    """Check a graph request before any work: ``(the transcoders, the resolved parameters)``."""
    from pellucid.features.graph.engine import check_prompt

    resolved = GRAPH.resolve(params)
    transcoders = load_set(lm, folder)
    check_prompt(lm, prompt, resolved["chat"], resolved["max_tokens"], resolved["document_start"])
    target = resolved["target"]
    if target is not None:
        ids = lm.encode_target(target)
        if len(ids) != 1:
            raise InvalidInputError(
                f"target={target!r} is {len(ids)} tokens {lm.decode_tokens(ids)}; a graph explains one next "
                "token: give a single token (e.g. its first piece) or leave the target empty for the likeliest ones."
            )
    return transcoders, resolved


def build_graph(
    lm: LM, transcoders: TranscoderSet, prompt: str, resolved: dict[str, Any],
    progress: Callable[[int, int], None] | None = None,
) -> AttributionGraph:  # fmt: skip
    """The attribution graph of ``prompt`` (parameters resolved by :func:`prepare_graph`)."""
    from pellucid.features.graph.engine import attribution_graph

    return attribution_graph(lm, prompt, transcoders, progress=progress, **resolved)


def node_contexts(
    lm: LM, name: str, folder: Path, layer: int, latent: int, store: Store | None, *, top: int = 5
) -> dict[str, Any]:
    """The feature page of latent ``latent`` of layer ``layer``'s transcoder (kept per set, layer, latent)."""
    from pellucid.features.graph.transcoders import describe_transcoders
    from pellucid.service.feature_views import feature_page

    folders = describe_transcoders(folder)["folders"]
    if layer not in folders:
        raise InvalidInputError(f"layer={layer}: the set {name!r} has transcoders for layers {sorted(folders)}.")
    key = (name, layer, latent)
    with _LOCK:
        if key in _CONTEXTS:
            _CONTEXTS.move_to_end(key)
            return _CONTEXTS[key]
    page = feature_page(lm, folders[layer], latent, store, top=top, max_tokens=2000)
    page.update(set=name, layer=layer)
    with _LOCK:
        _CONTEXTS[key] = page
        while len(_CONTEXTS) > CONTEXTS_KEPT:
            _CONTEXTS.popitem(last=False)
    return page
