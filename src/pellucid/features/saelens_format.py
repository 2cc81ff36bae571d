"""Dictionaries on disk in SAELens' folder layout, so either tool reads what the other wrote.

A folder holds three files (SAELens 6 names them the same)::

    cfg.json                  d_in, d_sae, architecture, k, apply_b_dec_to_input, dtype, ... and
                              "metadata": {model_name, hook_name, sae_lens_version, ...}
    sae_weights.safetensors   W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_out], b_dec [d_out]
                              (+ threshold [d_sae] for jumprelu)
    sparsity.safetensors      "sparsity": log10 of each latent's firing frequency (optional)

SAELens names sites with TransformerLens hook names (``blocks.6.hook_resid_post``); Pellucid with
its own site names (``blocks.6.resid_post``). Saving writes both (``metadata.hook_name`` and
``metadata.pellucid_site``); loading reads the Pellucid key when present and otherwise maps the
hook name (:func:`site_from_hook`). A BatchTopK dictionary is written as SAELens writes one for
inference: ``jumprelu`` with the learned threshold on every latent. SAELens has no TopK
transcoder, so a TopK transcoder's architecture is written ``topk_transcoder``, which Pellucid
reads and SAELens refuses; BatchTopK and JumpReLU transcoders are ``jumprelu_transcoder``.
Skip transcoders add ``W_skip [d_out, d_in]`` and ``_skip`` to the name: ``jumprelu_skip_transcoder``
(SAELens' ``JumpReLUSkipTranscoder``) and ``topk_skip_transcoder`` (Pellucid only).

Configurations older than SAELens 6 (``hook_point``, ``model_name`` at the top level,
``activation_fn_str``/``activation_fn_kwargs.k`` for TopK) load too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from pellucid.errors import InvalidInputError
from pellucid.features.dictionary import DictionaryConfig, SparseDictionary

if TYPE_CHECKING:
    from pellucid.models.lm import LM

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SPARSITY_FILE = "sparsity.safetensors"
#: the SAELens version whose layout is written (6.x reads ``metadata``; older ones are migrated)
SAELENS_LAYOUT_VERSION = "6.0.0"

#: TransformerLens hook suffix inside a block -> Pellucid site suffix
_TL_BLOCK: dict[str, str] = {
    "hook_resid_pre": "resid_pre",
    "hook_resid_post": "resid_post",
    "hook_attn_out": "attn.out",
    "hook_mlp_out": "mlp.out",
    "mlp.hook_post": "mlp.post",
    "ln2.hook_normalized": "mlp.in",
}
_TL_GLOBAL: dict[str, str] = {"hook_embed": "embed", "ln_final.hook_normalized": "final_norm"}
_TL_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")


def site_from_hook(hook_name: str) -> str:
    """``blocks.6.hook_resid_post`` -> ``blocks.6.resid_post``; an unmapped hook raises naming the known ones."""
    match = _TL_RE.match(hook_name)
    if match and match.group(2) in _TL_BLOCK:
        return f"blocks.{match.group(1)}.{_TL_BLOCK[match.group(2)]}"
    if hook_name in _TL_GLOBAL:
        return _TL_GLOBAL[hook_name]
    known = [f"blocks.L.{k}" for k in _TL_BLOCK] + list(_TL_GLOBAL)
    raise InvalidInputError(
        f"The dictionary reads TransformerLens hook {hook_name!r}, which has no Pellucid site; "
        f"hooks Pellucid maps: {', '.join(known)}."
    )


def hook_from_site(site: str) -> str:
    """The TransformerLens hook name of a Pellucid site (inverse of :func:`site_from_hook`)."""
    inverse = {v: k for k, v in _TL_BLOCK.items()}
    match = _TL_RE.match(site)
    if match and match.group(2) in inverse:
        return f"blocks.{match.group(1)}.{inverse[match.group(2)]}"
    globals_inverse = {v: k for k, v in _TL_GLOBAL.items()}
    if site in globals_inverse:
        return globals_inverse[site]
    raise InvalidInputError(
        f"Site {site!r} has no TransformerLens hook name; dictionaries are saved for the sites "
        f"{', '.join('blocks.L.' + s for s in _TL_BLOCK.values())}, embed and final_norm."
    )


def _saelens_architecture(config: DictionaryConfig) -> str:
    inference = "topk" if config.architecture == "topk" else "jumprelu"
    if not config.is_transcoder:
        return inference
    return f"{inference}_skip_transcoder" if config.skip else f"{inference}_transcoder"


def save(dictionary: SparseDictionary, folder: str | Path, log_sparsity: torch.Tensor | None = None) -> Path:
    """Write ``dictionary`` as a SAELens folder (created if needed); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    c = dictionary.config
    weights = {name: t.detach().contiguous().cpu() for name, t in dictionary.state_dict().items()}
    if c.architecture == "topk":
        weights.pop("threshold")
    save_file(weights, str(folder / WEIGHTS_FILE))
    if log_sparsity is not None:
        save_file({"sparsity": log_sparsity.detach().float().contiguous().cpu()}, str(folder / SPARSITY_FILE))
    metadata: dict[str, Any] = {
        "sae_lens_version": SAELENS_LAYOUT_VERSION,
        "sae_lens_training_version": None,
        "model_name": c.model,
        "hook_name": hook_from_site(c.site),
        "hook_head_index": None,
        "prepend_bos": False,
        "pellucid_site": c.site,
        "pellucid_architecture": c.architecture,
        "pellucid_model_version": c.model_version,
        "pellucid_extra": c.extra,
    }
    cfg: dict[str, Any] = {
        "architecture": _saelens_architecture(c),
        "d_in": c.d_in,
        "d_sae": c.d_sae,
        "dtype": str(dictionary.W_enc.dtype).removeprefix("torch."),
        "device": "cpu",
        "apply_b_dec_to_input": not c.is_transcoder,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "k": c.k,
        "rescale_acts_by_decoder_norm": False,
        "metadata": metadata,
    }
    if c.is_transcoder:
        cfg["d_out"] = c.width_out
        metadata["hook_name_out"] = hook_from_site(str(c.site_out))
        metadata["pellucid_site_out"] = c.site_out
    (folder / CFG_FILE).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return folder


def read_config(folder: str | Path) -> dict[str, Any]:
    """The raw ``cfg.json`` of a dictionary folder (clear errors when it is not one)."""
    folder = Path(folder)
    path = folder / CFG_FILE
    if not path.is_file():
        raise InvalidInputError(
            f"{str(folder)!r} is not a dictionary folder: it has no {CFG_FILE} "
            f"(a folder written by `pellucid features train` or SAELens' save_model)."
        )
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON ({exc}); the folder is damaged.") from None
    return data


def _config_from_saelens(cfg: dict[str, Any]) -> DictionaryConfig:
    meta = dict(cfg.get("metadata") or {})
    arch = str(cfg.get("architecture") or "standard")
    k = cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k")
    if arch in ("standard", "topk") and cfg.get("activation_fn", cfg.get("activation_fn_str")) == "topk":
        arch = "topk"
    base = arch.removesuffix("_transcoder")
    skip = arch.endswith("_transcoder") and base.endswith("_skip")
    base = base.removesuffix("_skip") if skip else base
    if base not in ("topk", "jumprelu"):
        raise InvalidInputError(
            f"SAELens architecture {arch!r} is not supported; Pellucid reads topk, jumprelu (and BatchTopK "
            "saved as jumprelu) and their transcoders and skip transcoders."
        )
    hook = meta.get("hook_name") or cfg.get("hook_name") or cfg.get("hook_point")
    site = meta.get("pellucid_site") or (site_from_hook(str(hook)) if hook else None)
    if site is None:
        raise InvalidInputError("The dictionary's cfg.json names no hook (metadata.hook_name); it cannot be placed.")
    transcoder = arch.endswith("_transcoder")
    hook_out = meta.get("hook_name_out") or cfg.get("hook_name_out")
    site_out = meta.get("pellucid_site_out") or (site_from_hook(str(hook_out)) if hook_out else None)
    if transcoder and site_out is None:
        raise InvalidInputError("The transcoder's cfg.json names no output hook (metadata.hook_name_out).")
    d_sae = int(cfg["d_sae"])
    return DictionaryConfig(
        architecture=str(meta.get("pellucid_architecture") or base),
        d_in=int(cfg["d_in"]),
        d_sae=d_sae,
        k=int(k) if k else min(d_sae, 32),
        site=str(site),
        model=str(meta.get("model_name") or cfg.get("model_name") or ""),
        model_version=str(meta.get("pellucid_model_version") or ""),
        site_out=str(site_out) if transcoder else None,
        d_out=int(cfg["d_out"]) if transcoder else None,
        extra=dict(meta.get("pellucid_extra") or {}),
        skip=skip,
    )


def load(folder: str | Path, lm: LM | None = None) -> SparseDictionary:
    """Read a SAELens-layout folder; with ``lm``, refuse a dictionary made for another model or width."""
    folder = Path(folder)
    config = _config_from_saelens(read_config(folder))
    if not (folder / WEIGHTS_FILE).is_file():
        raise InvalidInputError(f"{str(folder)!r} has {CFG_FILE} but no {WEIGHTS_FILE}; the folder is incomplete.")
    weights = load_file(str(folder / WEIGHTS_FILE))
    dtype = weights["W_enc"].dtype
    dictionary = SparseDictionary(config, dtype=dtype)
    expected = {name: tuple(t.shape) for name, t in dictionary.state_dict().items()}
    weights.setdefault("threshold", torch.zeros(config.d_sae, dtype=dtype))
    for name, shape in expected.items():
        if name not in weights or tuple(weights[name].shape) != shape:
            got = tuple(weights[name].shape) if name in weights else "missing"
            raise InvalidInputError(f"{WEIGHTS_FILE}: {name} is {got}, but cfg.json implies {shape}.")
    if "W_skip" in weights and "W_skip" not in expected:  # dropping it would silently compute another function
        raise InvalidInputError(
            f"{WEIGHTS_FILE} has W_skip, but {CFG_FILE}'s architecture {read_config(folder).get('architecture')!r} "
            "is not a skip transcoder (expected 'jumprelu_skip_transcoder' or 'topk_skip_transcoder'); fix cfg.json."
        )
    dictionary.load_state_dict({name: weights[name] for name in expected})
    if lm is not None:
        check_compatible(dictionary, lm)
    return dictionary


def load_sparsity(folder: str | Path) -> torch.Tensor | None:
    """The per-latent log10 firing frequency, when the folder has it."""
    path = Path(folder) / SPARSITY_FILE
    return load_file(str(path))["sparsity"] if path.is_file() else None


def _same_model(recorded: str, lm: LM) -> bool:
    def tail(name: str) -> str:
        return name.strip("/").rsplit("/", 1)[-1].lower()

    names = {tail(lm.name)}
    if lm.source is not None:
        names.add(tail(str(lm.source.location)))
    return not recorded or tail(recorded) in names


def check_compatible(dictionary: SparseDictionary, lm: LM) -> None:
    """Raise unless ``dictionary`` fits ``lm``: same model (by name), existing sites, matching widths."""
    from pellucid.features.activations import site_width

    c = dictionary.config
    if not _same_model(c.model, lm):
        raise InvalidInputError(
            f"This dictionary was trained on model {c.model!r}, but the loaded model is {lm.name!r}; "
            "load that model (--model) or use a dictionary trained on this one."
        )
    for site, width, what in ((c.site, c.d_in, "d_in"), (c.site_out, c.width_out, "d_out")):
        if site is None:
            continue
        actual = site_width(lm, site)
        if actual != width:
            raise InvalidInputError(
                f"The dictionary's {what} is {width}, but site {site!r} of {lm.name} has width {actual}; "
                "it was trained for another model or site."
            )
