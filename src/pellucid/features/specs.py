"""The parameters of ``pellucid features train`` and ``evaluate``, declared once (no torch here).

The CLI generates its options from these :class:`~pellucid.spec.Param` declarations and
:mod:`pellucid.service.features` resolves every call through them, so ranges and choices are
checked the same way everywhere — and before any model loads.
"""

from __future__ import annotations

import re

from pellucid.errors import InvalidInputError
from pellucid.spec import Param, Spec, parse_int_list

ARCHITECTURES = ("topk", "batchtopk", "jumprelu")
#: block-site suffixes a dictionary can read (see :data:`pellucid.features.activations.DICTIONARY_SITES`)
SITE_SUFFIXES = ("resid_pre", "resid_post", "attn.out", "mlp.out", "mlp.in", "mlp.post")
_SITE = re.compile(r"^blocks\.(\d+)\.(.+)$")

TRAIN = Spec(
    "features train",
    (
        Param("site", "str", None, "Site the dictionary reads, e.g. blocks.15.resid_post (not with --transcoder)."),
        Param("latents", "int", 4608, "Number of latents (dictionary width).", min=1, max=1_048_576),
        Param("k", "int", 32, "Active latents per token (TopK; the L0 target otherwise).", min=1),
        Param("architecture", "str", "topk", "Sparsity rule.", choices=ARCHITECTURES),
        Param(
            "transcoder",
            "bool",
            False,
            "Train a transcoder: read the MLP input, predict its output.",
            cli=("--transcoder",),
        ),
        Param(
            "skip",
            "bool",
            False,
            "Skip transcoder: add a linear term read straight from the MLP input (with --transcoder).",
            cli=("--skip",),
        ),
        Param("layer", "int", None, "Block whose MLP a transcoder replaces (with --transcoder).", min=0),
        Param(
            "layers",
            "str",
            None,
            "Transcoders for many layers in one pass: 'all' or e.g. '0,3-5' (with --transcoder).",
        ),
        Param("tokens", "int", 2_000_000, "Training tokens.", min=1),
        Param("batch_size", "int", 4096, "Tokens per optimisation step.", min=1),
        Param("lr", "float", None, "Learning rate (default 2e-4 / sqrt(latents / 16384)).", min=0),
        Param("context", "int", 128, "Tokens kept of each text.", min=2),
        Param("checkpoint_every", "int", 500, "Steps between checkpoints (0: none).", min=0),
        Param(
            "eval_tokens",
            "int",
            10_000,
            "Held-out tokens the dictionary (each layer's, and the replacement model) is evaluated on with --eval.",
            min=1,
        ),
        Param("seed", "int", 0, "Random seed.", min=0, max=2**32 - 1),
        Param("text_field", "str", None, "Text field of a .jsonl/.tsv/.csv corpus (default: text, sentence...)."),
    ),
)

EVALUATE = Spec(
    "features evaluate",
    (
        Param("max_tokens", "int", 50_000, "Held-out tokens evaluated.", min=1),
        Param("context", "int", 128, "Tokens kept of each text.", min=2),
        Param("text_field", "str", None, "Text field of a .jsonl/.tsv/.csv corpus."),
    ),
)


def train_layers(transcoder: bool, site: str | None, layer: int | None, layers: str | None) -> list[int] | None:
    """The layers of a multi-layer transcoder run (``None``: all layers), checked for form before any model loads."""
    if not transcoder or site is not None or layer is not None:
        raise InvalidInputError(
            f"--layers {layers!r} trains one transcoder per layer: give --transcoder --layers all|L1,L2,... "
            "without --site or --layer."
        )
    chosen = parse_int_list(layers or "all")
    if chosen is not None and any(x < 0 for x in chosen):
        raise InvalidInputError(f"--layers {layers!r}: layers are counted from 0; give e.g. 'all' or '0,3-5'.")
    return chosen


def train_sites(site: str | None, transcoder: bool, layer: int | None) -> tuple[str, str | None]:
    """``(site read, site written or None)``, checked for form before any model loads."""
    if transcoder:
        if layer is None or site is not None:
            raise InvalidInputError(
                "A transcoder is placed by its layer: give --transcoder --layer L (and no --site); "
                "it reads blocks.L.mlp.in and predicts blocks.L.mlp.out."
            )
        return f"blocks.{layer}.mlp.in", f"blocks.{layer}.mlp.out"
    if site is None:
        raise InvalidInputError(
            "Give the site to train on, e.g. --site blocks.15.resid_post (or --transcoder --layer L)."
        )
    if layer is not None:
        raise InvalidInputError(f"--layer is for transcoders; the site {site!r} already names its layer.")
    match = _SITE.match(site)
    if not match or match.group(2) not in SITE_SUFFIXES:
        raise InvalidInputError(
            f"Unknown site {site!r} for a dictionary: give blocks.L.<suffix> with a suffix among "
            f"{', '.join(SITE_SUFFIXES)} (e.g. blocks.15.resid_post)."
        )
    return site, None


#: the longest prompt an attribution graph takes by default (:data:`pellucid.features.graph.engine.MAX_GRAPH_TOKENS`)
MAX_GRAPH_TOKENS = 64

GRAPH = Spec(
    "inspect graph",
    (
        Param(
            "target",
            "str",
            None,
            "One target token, e.g. ' Paris' (default: the likeliest tokens up to --logit-probability).",
            cli=("--target", "-t"),
        ),
        Param("node_threshold", "float", 0.8, "Keep nodes up to this share of the cumulative influence.", min=0, max=1),
        Param(
            "edge_threshold", "float", 0.98, "Keep edges up to this share of the cumulative influence.", min=0, max=1
        ),
        Param("max_feature_nodes", "int", 500, "Feature rows computed (most influential first).", min=0, api_max=5000),
        Param("max_logits", "int", 10, "At most this many target logits.", min=1),
        Param(
            "logit_probability", "float", 0.95, "Target logits until their probabilities add up to this.", min=0, max=1
        ),
        Param("batch_size", "int", 32, "Rows per backward pass.", min=1),
        Param("verify", "int", 5, "Top features ablated in the real model as a self-check (0: none).", min=0),
        Param("chat", "bool", False, "Apply the chat template (default: raw text).", cli=("--chat/--raw",)),
        Param(
            "max_tokens", "int", MAX_GRAPH_TOKENS, "Longest prompt accepted, in tokens.", min=2, max=1024, api_max=256
        ),
        Param(
            "skip_first",
            "bool",
            True,
            "The first token (the attention sink) gets no feature nodes: its MLP output is its error node.",
            cli=("--skip-first/--keep-first",),
        ),
        Param(
            "document_start",
            "bool",
            True,
            "Put the model's document-start token before a raw prompt that has none; that position is then "
            "a constant, with no nodes.",
            cli=("--document-start/--no-document-start",),
        ),
    ),
)
