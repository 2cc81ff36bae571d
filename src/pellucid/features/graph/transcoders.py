"""A set of per-layer transcoders: the replacement model's MLPs, read from one folder.

``pellucid features train --transcoder --layers all --out DIR`` writes one SAELens-layout folder
per layer, ``DIR/layer_<L>/``, each reading ``blocks.L.mlp.in`` and predicting ``blocks.L.mlp.out``.
:func:`load_transcoders` reads them back (any subfolder holding a ``cfg.json`` counts, whatever
its name), checks each against the model (same model, same widths) and that every layer of the
model has exactly one, and returns a :class:`TranscoderSet`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError
from pellucid.features.dictionary import DictionaryConfig, SparseDictionary

if TYPE_CHECKING:
    from pellucid.models.lm import LM

_MLP_IN = re.compile(r"^blocks\.(\d+)\.mlp\.in$")


@dataclass
class TranscoderSet:
    """One transcoder per layer (``by_layer[L]`` reads ``blocks.L.mlp.in``, writes ``blocks.L.mlp.out``)."""

    by_layer: dict[int, SparseDictionary]
    folder: str = ""

    @property
    def layers(self) -> list[int]:
        return sorted(self.by_layer)

    def __getitem__(self, layer: int) -> SparseDictionary:
        return self.by_layer[layer]

    def names(self) -> list[str]:
        """One identifier per layer (the folder's name and the layer), for a graph's provenance."""
        base = Path(self.folder).name or "transcoders"
        return [f"{base}/layer_{layer}" for layer in self.layers]

    def skip_layers(self) -> list[int]:
        """The layers whose transcoder has a skip term (a linear path of the graph, not a node)."""
        return [layer for layer in self.layers if self.by_layer[layer].W_skip is not None]


def transcoder_layer(dictionary: SparseDictionary | DictionaryConfig, where: str) -> int:
    """The layer whose MLP ``dictionary`` replaces; a dictionary that is not an MLP transcoder is refused."""
    cfg = dictionary if isinstance(dictionary, DictionaryConfig) else dictionary.config
    match = _MLP_IN.match(cfg.site)
    if not cfg.is_transcoder or match is None or cfg.site_out != f"blocks.{match.group(1)}.mlp.out":
        raise InvalidInputError(
            f"{where} holds a dictionary over {cfg.site!r} → {cfg.site_out!r}, not an MLP transcoder "
            "(blocks.L.mlp.in → blocks.L.mlp.out); train one with `pellucid features train --transcoder --layers all`."
        )
    return int(match.group(1))


def transcoder_folders(root: Path) -> list[Path]:
    """The dictionary folders under ``root`` (its subfolders holding a ``cfg.json``, or ``root`` itself)."""
    from pellucid.features.saelens_format import CFG_FILE

    if not root.is_dir():
        raise InvalidInputError(f"Transcoder folder {str(root)!r} does not exist; give the --out folder of training.")
    candidates = (
        [root] if (root / CFG_FILE).is_file() else sorted(p for p in root.iterdir() if (p / CFG_FILE).is_file())
    )
    if not candidates:
        raise InvalidInputError(
            f"{str(root)!r} holds no transcoder (no subfolder with {CFG_FILE}); train them with "
            "`pellucid features train --transcoder --layers all --out DIR`."
        )
    return candidates


def describe_transcoders(folder: str | Path) -> dict[str, Any]:
    """What a transcoder folder holds, read from the configurations only (no weights, no model).

    The checks :func:`load_transcoders` makes before it needs the model: the folder exists and
    holds transcoders, each an MLP transcoder, one per layer, all for one model. Returns the
    ``model``, the ``layers`` (sorted), the ``width`` (latents per layer), the ``architecture`` names,
    the layers whose transcoder has a ``skip`` term, and the layer folders.
    """
    from pellucid.features.saelens_format import _config_from_saelens, read_config

    root = Path(folder)
    configs: dict[int, tuple[Path, DictionaryConfig]] = {}
    for path in transcoder_folders(root):
        config = _config_from_saelens(read_config(path))
        layer = transcoder_layer(config, str(path))
        if layer in configs:
            raise InvalidInputError(f"{str(root)!r} holds two transcoders for layer {layer}; keep one per layer.")
        configs[layer] = (path, config)
    models = sorted({config.model for _, config in configs.values()})
    if len(models) > 1:
        raise InvalidInputError(
            f"{str(root)!r} mixes transcoders of several models {models}; keep one model's transcoders per folder."
        )
    widths = sorted({config.d_sae for _, config in configs.values()})
    return {
        "model": models[0],
        "layers": sorted(configs),
        "width": widths[0] if len(widths) == 1 else widths,
        "architecture": sorted({config.architecture for _, config in configs.values()}),
        "skip": sorted(layer for layer, (_, config) in configs.items() if config.skip),  # layers with a skip term
        "folders": {layer: path for layer, (path, _) in sorted(configs.items())},
    }


def load_transcoders(folder: str | Path, lm: LM, *, require_all: bool = True) -> TranscoderSet:
    """Read every transcoder under ``folder`` (its subfolders, or the folder itself) for ``lm``.

    With ``require_all`` (what an attribution graph needs) every layer of the model must have one;
    the error names the missing layers and how to train them.
    """
    from pellucid.features.saelens_format import load

    root = Path(folder)
    by_layer: dict[int, SparseDictionary] = {}
    for path in transcoder_folders(root):
        dictionary = load(path, lm)  # refuses another model or width, naming both
        layer = transcoder_layer(dictionary, str(path))
        if layer in by_layer:
            raise InvalidInputError(f"{str(root)!r} holds two transcoders for layer {layer}; keep one per layer.")
        by_layer[layer] = dictionary.float().eval()
    missing = [layer for layer in range(lm.n_layers) if layer not in by_layer]
    if require_all and missing:
        raise InvalidInputError(
            f"{str(root)!r} has transcoders for layers {sorted(by_layer)} but {lm.name} has layers "
            f"0..{lm.n_layers - 1}: layers {missing} are missing. Train them with "
            f"`pellucid features train --transcoder --layers {','.join(map(str, missing))} --out {root}`."
        )
    return TranscoderSet(by_layer, str(root))
