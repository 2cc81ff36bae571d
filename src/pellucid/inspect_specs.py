"""The parameters of every inspect verb, declared once with the library's defaults.

Each verb of :mod:`pellucid.inspect` (``patch``, ``trace``, ``probe``...) is a :class:`Verb`:
the library function it calls, the inputs it takes positionally (prompts, data, a direction)
and a :class:`~pellucid.spec.Spec` of its keyword parameters. From these declarations

- ``pellucid inspect <verb>`` generates its options (:mod:`pellucid.cli.inspect_cmd`),
- ``POST /api/inspect/<verb>`` generates its request model (:mod:`pellucid.serve.routers.inspect`),
- :func:`pellucid.service.inspect.run_inspect` validates every call before it reaches the method,

and a unit test checks each default against the library function's signature, so the CLI, the
API, the web form and the library cannot drift apart.

This module sits beside the :mod:`pellucid.inspect` package rather than inside it: importing
anything under ``pellucid.inspect`` runs its ``__init__``, which loads torch, and the CLI and
the API build their options and schemas from these declarations without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from pellucid.spec import Param, Spec

#: the site choices of each method (the library's ``ACTIVATION_SITES``, ``PATCH_SITES``...)
STREAM_SITES = ("resid_pre", "resid_post", "attn.out", "mlp.out")
ACTIVATION_SITES = (*STREAM_SITES, "mlp.post")
PATCH_SITES = (*STREAM_SITES, "heads")
TRACE_SITES = ("resid_post", "mlp.out", "attn.out")
METRICS = ("logit_diff", "prob", "logprob")

#: the largest seed every random generator takes (scikit-learn's and NumPy's limit)
MAX_SEED = 2**32 - 1
PROMPT_EXAMPLE = "The Eiffel Tower is located in the city of"

LAYERS = Param(
    "layers", "int_list", None, "Layers, e.g. '0,5,10', '0-11' or '-1' (default: all).", cli=("--layers", "-l")
)
HEADS = Param("heads", "int_list", None, "Heads, e.g. '0,3' (default: all).", cli=("--heads",))
POSITIONS = Param("positions", "int_list", None, "Positions, e.g. '0-5' (default: all).", cli=("--positions",))
CHAT = Param(
    "chat",
    "bool",
    False,
    "Apply the chat template (default: raw text, as next-token analyses read).",
    cli=("--chat/--raw",),
)
TARGET = Param(
    "target",
    "str",
    help="Next token, e.g. ' Paris' (mind the space).",
    required=True,
    example=" Paris",
    cli=("--target", "-t"),
)
FOIL = Param(
    "foil",
    "str",
    None,
    "Competing token, e.g. ' Rome' (the metric becomes the logit difference).",
    cli=("--foil", "-f"),
)
SEED = Param("seed", "int", 0, "Random seed.", min=0, max=MAX_SEED)


def _patch_common() -> tuple[Param, ...]:
    return (
        TARGET,
        FOIL,
        Param("site", "str", "resid_pre", "Activation patched; heads gives layer × head.", choices=PATCH_SITES),
        Param("metric", "str", None, "Default: logit_diff with a foil, else prob.", choices=METRICS),
        LAYERS,
        POSITIONS,
        Param("align", "bool", False, "Pad the shorter prompt where the two differ.", cli=("--align",)),
    )


@dataclass(frozen=True)
class Verb:
    """One inspect verb: ``pellucid.inspect.<function>(lm, *inputs, **spec-params)``."""

    spec: Spec
    function: str
    inputs: tuple[str, ...] = ("prompt",)
    description: str = ""


def _verb(
    name: str, function: str, params: tuple[Param, ...], inputs: tuple[str, ...] = ("prompt",), description: str = ""
) -> Verb:
    return Verb(Spec(name, params, owner=f"Inspect verb {name!r}"), function, inputs, description)


_VERBS = (
    _verb(
        "activations",
        "activations",
        (
            Param("site", "str", "resid_post", "Activation read.", choices=ACTIVATION_SITES),
            LAYERS,
            Param(
                "reduce",
                "str",
                "norm",
                "How the hidden dimension is summarised.",
                choices=("norm", "mean", "max", "min"),
            ),
            CHAT,
        ),
        description="Per-token activation size by layer: layer × position.",
    ),
    _verb(
        "top_neurons",
        "top_neurons",
        (
            LAYERS,
            Param("position", "int", -1, "Token position whose neurons are ranked (default: the last)."),
            Param("k", "int", 10, "Neurons kept.", min=1, cli=None),
            Param("by", "str", "value", "Rank by activation value or its absolute value.", choices=("value", "abs")),
            CHAT,
        ),
        description="The most active MLP neurons at one token.",
    ),
    _verb(
        "top_activating_tokens",
        "top_activating_tokens",
        (
            Param(
                "neuron", "str", help="Neuron 'layer.index', e.g. '3.512'.", required=True, example="3.512", cli=None
            ),
            Param("k", "int", 20, "Examples kept (with --neuron).", min=1),
            Param("context", "int", 8, "Tokens of context shown around each example.", min=0),
            Param("limit", "int", None, "Read at most this many texts.", min=1),
            CHAT,
        ),
        inputs=("texts",),
        description="The tokens of a set of texts on which one neuron fires most.",
    ),
    _verb(
        "attention",
        "attention",
        (LAYERS, HEADS, CHAT),
        description="Attention weights of each head: head × query × key.",
    ),
    _verb(
        "head_summary",
        "head_summary",
        (LAYERS, CHAT),
        description="How focused each head is: mean attention entropy over layer × head (click a head for its map).",
    ),
    _verb(
        "attention_rollout",
        "attention_rollout",
        (
            LAYERS,
            Param("residual", "bool", True, "Add the identity for the residual stream at each layer."),
            CHAT,
        ),
        description="Attention rollout over all layers: query × key.",
    ),
    _verb(
        "logit_lens",
        "logit_lens",
        (
            Param(
                "target",
                "str",
                None,
                "Token to score, e.g. ' Paris' (default: the model's own top-1).",
                cli=("--target", "-t"),
            ),
            LAYERS,
            Param("score", "str", "prob", "What each cell shows.", choices=("prob", "logprob", "rank")),
            Param("top_k", "int", 5, "Top predictions kept per cell.", min=1, api_max=50),
            Param("include_embed", "bool", False, "Add a row for the embeddings.", cli=("--embed",)),
            CHAT,
        ),
        description="What each layer would predict: layer × position.",
    ),
    _verb(
        "direct_logit",
        "direct_logit_attribution",
        (
            TARGET,
            FOIL,
            Param(
                "by", "str", "layer", "layer: attention and MLP per layer; head: each head.", choices=("layer", "head")
            ),
            CHAT,
        ),
        description="Who writes the answer directly: per-layer (or per-head) shares of the target's logit.",
    ),
    _verb(
        "patch",
        "patch",
        (
            *_patch_common(),
            Param(
                "direction",
                "str",
                "denoise",
                "denoise: clean into corrupted; noise: the reverse.",
                choices=("denoise", "noise"),
            ),
            Param("normalize", "bool", True, "Scale so clean = 1 and corrupted = 0."),
            Param(
                "method",
                "str",
                "fast",
                "fast (batched partial runs) or naive (one forward per patch).",
                choices=("fast", "naive"),
                cli=None,
                api=False,
            ),
            CHAT,
        ),
        inputs=("clean", "corrupted"),
        description="Activation patching: which activations carry the clean/corrupted difference (layer × position).",
    ),
    _verb(
        "trace",
        "trace",
        (
            TARGET,
            Param(
                "subject",
                "str",
                help="Text of the prompt to corrupt, e.g. 'Eiffel Tower'.",
                required=True,
                example="Eiffel Tower",
                cli=("--subject", "-s"),
            ),
            Param("samples", "int", 10, "Noise samples averaged.", min=1, api_max=100),
            Param("noise", "float", 3.0, "Noise std in units of the embedding std (ROME: 3).", min=0.0, api_max=100.0),
            SEED,
            Param("site", "str", "resid_post", "State restored.", choices=TRACE_SITES),
            Param(
                "window",
                "int",
                1,
                "Consecutive layers restored together (ROME: 10 for MLP/attention).",
                min=1,
                api_max=64,
            ),
            LAYERS,
            CHAT,
        ),
        description="Causal tracing (ROME): where a fact is recalled, with the subject corrupted by noise.",
    ),
    _verb(
        "attribution_patch",
        "attribution_patch",
        (
            *_patch_common(),
            Param(
                "compare",
                "bool",
                True,
                "Also run exact patching and report the agreement.",
                cli=("--compare/--no-compare",),
            ),
            CHAT,
        ),
        inputs=("clean", "corrupted"),
        description="Patching estimated from one backward pass (fast; compare with the exact sweep).",
    ),
    _verb(
        "ablate",
        "ablate",
        (
            Param(
                "target",
                "str",
                help="Next token whose probability is measured, e.g. ' Paris'.",
                required=True,
                example=" Paris",
                cli=("--target", "-t"),
            ),
            Param("what", "str", "heads", "Components ablated.", choices=("heads", "attn", "mlp", "layers", "neurons")),
            Param("how", "str", "zero", "Replace with zeros or the mean activation.", choices=("zero", "mean")),
            LAYERS,
            HEADS,
            Param(
                "neurons",
                "str_list",
                None,
                "For what=neurons: layer.index, e.g. 3.512 (repeatable).",
                cli=("--neuron",),
            ),
            Param(
                "reference",
                "str_list",
                None,
                "Texts whose mean activations how=mean uses (default: the prompt).",
                cli=None,
                api=False,
            ),
            Param("joint", "bool", False, "Ablate all chosen components at once.", cli=("--joint",)),
            CHAT,
        ),
        description="Change in p(target) when each component is ablated.",
    ),
    _verb(
        "probe",
        "probe",
        (
            LAYERS,
            Param("cv", "int", 5, "Cross-validation folds.", min=2, api_max=10),
            Param(
                "control",
                "bool",
                True,
                "Also fit a control task (Hewitt & Liang) and report selectivity.",
                cli=("--control/--no-control",),
            ),
            Param("split", "str", "type", "Folds by word type (token data) or random.", choices=("type", "random")),
            Param("seed", "int", 0, "Seed for sampling, folds and control labels.", min=0, max=MAX_SEED),
            CHAT,
        ),
        inputs=("data",),
        description="Linear-probe accuracy by layer, cross-validated, with a control task.",
    ),
    _verb(
        "fit_probe",
        "fit_probe",
        (
            Param("layer", "int", help="Layer whose residual stream the probe reads.", required=True, example=0),
            Param("seed", "int", 0, "Seed of the probe.", min=0, max=MAX_SEED),
            CHAT,
        ),
        inputs=("data",),
        description="One probe fitted on all the data at one layer (to save or steer with).",
    ),
    _verb(
        "steering_vector",
        "steering_vector",
        (
            Param("layer", "int", help="Layer whose residual stream is read.", required=True, example=0),
            CHAT,
        ),
        inputs=("positive", "negative"),
        description="mean(positive) − mean(negative) activations at one layer.",
    ),
    _verb(
        "steer",
        "steer",
        (
            Param(
                "layer",
                "int",
                help="Layer whose residual stream is steered.",
                required=True,
                example=0,
                cli=("--layer",),
            ),
            Param(
                "site",
                "str",
                "resid_post",
                "Site of the layer the direction is added to (the residual stream or a sublayer's output).",
                choices=("resid_pre", "resid_post", "attn.out", "mlp.out"),
            ),
            Param(
                "coefficients",
                "float_list",
                (0.0, 4.0, 8.0),
                "Coefficients, one generation each (repeatable).",
                cli=("--coef",),
            ),
            Param("normalize", "bool", False, "Scale the direction to unit length.", cli=("--normalize",)),
            Param("max_new_tokens", "int", 32, "Tokens generated per coefficient.", min=1),
            Param(
                "chat",
                "bool",
                None,
                "Apply the chat template (default: when the model has one).",
                cli=("--chat/--raw",),
            ),
        ),
        inputs=("prompt", "direction"),
        description="Generation with a steering vector added at a layer.",
    ),
)

#: every inspect verb by name (the names of ``POST /api/inspect/<verb>``)
VERBS: dict[str, Verb] = {v.spec.name: v for v in _VERBS}
