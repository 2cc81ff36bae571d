"""``pellucid inspect ...``: look inside the model (activations, attention, logit lens, DLA,
patching, causal tracing, ablation, probes, steering).

Each subcommand runs one inspect verb through :func:`pellucid.service.inspect.run_inspect` and
renders the resulting Explanation: a coloured grid in the terminal, ``--json`` for scripts,
``--html FILE`` for a standalone page. Prompts are raw text unless ``--chat`` is given
(next-token analyses read completions such as "The Eiffel Tower is located in the city of").

The verbs' options are generated from their specs (:data:`pellucid.inspect_specs.VERBS`, see
:data:`OPTIONS`): same names, defaults, ranges and choices as the library and the API. The
commands declare by hand only their inputs (prompts, files) and their modes (``--summary``,
``--naive``, ``--save``...).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from pellucid.cli import graph_cmd as _graph
from pellucid.cli.common import (
    JsonOption,
    ModelOption,
    console,
    err_console,
    handle_errors,
    load_lm,
    print_json,
    settings_from,
)
from pellucid.cli.progress import progress
from pellucid.cli.spec_options import spec_options
from pellucid.cli.typer_app import App
from pellucid.errors import InvalidInputError
from pellucid.features.specs import GRAPH
from pellucid.inspect_specs import VERBS
from pellucid.service import feature_explain
from pellucid.service.inspect import load_labelled, load_probe, load_texts, run_inspect
from pellucid.spec import Param, parse_int_list

if TYPE_CHECKING:
    from pellucid.models import LM
    from pellucid.types import Explanation

app = App(help="Look inside the model: where an answer is formed.", no_args_is_help=True)
app.command("graph")(_graph.graph_cmd)  # attribution graphs over transcoder features (cli/graph_cmd.py)

HtmlOption = typer.Option(None, "--html", help="Also write a standalone HTML page to this file.")
PromptArgument = typer.Argument(..., help="Text to run.")
CleanArgument = typer.Argument(..., help="Clean prompt, e.g. 'The Eiffel Tower is located in the city of'.")
CorruptedArgument = typer.Argument(..., help="Corrupted prompt of the same token length.")


def _params(verb: str, *names: str) -> tuple[Param, ...]:
    """The spec parameters of ``verb`` (all, or those named)."""
    spec = VERBS[verb].spec
    return tuple(spec[n] for n in names) if names else spec.params


#: command -> the spec parameters its options are generated from
OPTIONS: dict[str, tuple[Param, ...]] = {
    "activations": (
        *_params("activations"),
        *_params("top_neurons", "position"),
        *_params("top_activating_tokens", "k", "limit"),
    ),
    "attention": _params("attention"),
    "logit-lens": _params("logit_lens"),
    "dla": _params("direct_logit"),
    "patch": _params("patch"),
    "trace": _params("trace"),
    "attribution-patch": _params("attribution_patch"),
    "ablate": _params("ablate"),
    "probe": _params("probe"),
    "steer": _params("steer"),
    "graph": GRAPH.params,
}


def _for(verb: str, params: dict[str, Any]) -> dict[str, Any]:
    """The values of ``params`` that ``verb`` takes (a command's modes run different verbs)."""
    return {name: value for name, value in params.items() if name in VERBS[verb].spec}


def parse_ints(text: str | None, what: str = "layers") -> list[int] | None:
    """``'0,3-5,-1'`` -> ``[0, 3, 4, 5, -1]``; ``None``/``'all'`` -> ``None`` (all)."""
    return None if text is None else parse_int_list(text, f"--{what}")


def _load(ctx: typer.Context, model: str | None, quiet: bool) -> LM:
    """The model (torch loads only when a subcommand runs)."""
    return load_lm(model, settings_from(ctx), quiet=quiet)


def _emit(ex: Explanation, as_json: bool, html: Path | None, footer: str = "", grid: bool = True) -> bool:
    """Write the HTML page and JSON, or draw the grid and ``footer``; True when the terminal view ran."""
    if html is not None:
        from pellucid.render.html import explanation_page

        html.write_text(explanation_page(ex), encoding="utf-8")
        err_console.print(f"wrote {html}")
    if as_json:
        print_json(ex.to_dict())
        return False
    if grid:
        from pellucid.render.terminal import print_explanation

        print_explanation(ex, console)
    if footer:
        console.print(footer, highlight=False)
    for role in ("target", "foil"):
        read = ex.meta.get(role)
        if isinstance(read, dict) and read.get("note"):
            console.print(f"note ({role}): {read['note']}", style="dim", highlight=False, markup=False)
    return True


@app.command("activations")
@handle_errors
@spec_options(OPTIONS["activations"])
def activations_cmd(
    ctx: typer.Context,
    prompt: str | None = typer.Argument(None, help="Text to run (not needed with --texts)."),
    top_neurons: int = typer.Option(0, "--top-neurons", help="Instead: the K most active MLP neurons at --position."),
    neuron: str | None = typer.Option(None, help="Instead: a neuron 'layer.index' to search --texts for."),
    texts: Path | None = typer.Option(None, help="File of texts (.txt lines, .csv/.tsv/.jsonl/.conllu) for --neuron."),
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
    **params: Any,
) -> None:
    """Per-token activation size by layer; or top neurons for a token; or a neuron's top tokens."""
    lm = _load(ctx, model, as_json)
    if neuron is not None:
        source = texts if texts is not None else ([prompt] if prompt else None)
        if source is None:
            raise InvalidInputError("--neuron needs --texts FILE (or a PROMPT) to search.")
        ex = run_inspect("top_activating_tokens", lm, source, neuron=neuron, **_for("top_activating_tokens", params))
    elif prompt is None:
        raise InvalidInputError("Give a PROMPT (or --neuron with --texts).")
    elif top_neurons:
        ex = run_inspect("top_neurons", lm, prompt, **{**_for("top_neurons", params), "k": top_neurons})
    else:
        ex = run_inspect("activations", lm, prompt, **_for("activations", params))
    _emit(ex, as_json, html)


@app.command("attention")
@handle_errors
@spec_options(OPTIONS["attention"])
def attention_cmd(
    ctx: typer.Context,
    prompt: str = PromptArgument,
    summary: bool = typer.Option(
        False, "--summary", metavar="", help="Instead: mean attention entropy per layer and head."
    ),
    rollout: bool = typer.Option(False, "--rollout", metavar="", help="Instead: attention rollout over all layers."),
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
    **params: Any,
) -> None:
    """Attention weights (head × query × key), a per-head entropy summary, or attention rollout."""
    lm = _load(ctx, model, as_json)
    verb = "head_summary" if summary else "attention_rollout" if rollout else "attention"
    _emit(run_inspect(verb, lm, prompt, **_for(verb, params)), as_json, html)


@app.command("logit-lens")
@handle_errors
@spec_options(OPTIONS["logit-lens"])
def logit_lens_cmd(
    ctx: typer.Context,
    prompt: str = PromptArgument,
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
    **params: Any,
) -> None:
    """Decode each layer's residual stream with the final norm and unembedding."""
    lm = _load(ctx, model, as_json)
    ex = run_inspect("logit_lens", lm, prompt, **params)
    if _emit(ex, as_json, html):
        table = Table(title="Top predictions at the last position")
        table.add_column("layer")
        table.add_column("top tokens (prob)")
        for label, cells in zip(ex.labels["layer"], ex.meta["top_k"]):
            table.add_row(label, "  ".join(f"{t['token']!r} {t['prob']:.3f}" for t in cells[-1]))
        console.print(table)


@app.command("dla")
@handle_errors
@spec_options(OPTIONS["dla"])
def dla_cmd(
    ctx: typer.Context,
    prompt: str = PromptArgument,
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
    **params: Any,
) -> None:
    """Direct logit attribution of target − foil at the last position to each layer or head."""
    lm = _load(ctx, model, as_json)
    ex = run_inspect("direct_logit", lm, prompt, **params)
    m = ex.meta
    extra = f" + MLP {sum(m['mlp']):.4f} + attn bias {sum(m['attn_bias']):.4f}" if params["by"] == "head" else ""
    _emit(
        ex,
        as_json,
        html,
        f"logit difference {m['logit_diff']:.4f} = components {ex.scores.sum():.4f} + embed "
        f"{m['embed']:.4f} + bias {m['bias']:.4f}{extra} + residual {m['residual']:.2e}",
    )


@app.command("patch")
@handle_errors
@spec_options(OPTIONS["patch"])
def patch_cmd(
    ctx: typer.Context,
    clean: str = CleanArgument,
    corrupted: str = CorruptedArgument,
    naive: bool = typer.Option(False, "--naive", metavar="", help="One full forward per patch (slow reference)."),
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
    **params: Any,
) -> None:
    """Activation patching: restore clean activations one at a time (1 = clean, 0 = corrupted)."""
    lm = _load(ctx, model, as_json)
    with progress(as_json) as shown:
        how = "naive" if naive else "fast"
        ex = run_inspect("patch", lm, clean, corrupted, method=how, progress=shown.callback("layers"), **params)
    m = ex.meta
    _emit(ex, as_json, html, f"{m['metric']}: clean {m['clean_metric']:.4f}, corrupted {m['corrupted_metric']:.4f}")


@app.command("trace")
@handle_errors
@spec_options(OPTIONS["trace"])
def trace_cmd(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="A factual prompt, e.g. 'The Eiffel Tower is located in the city of'."),
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
    **params: Any,
) -> None:
    """Causal tracing (ROME): noise the subject, restore each (layer, position), measure p(target)."""
    lm = _load(ctx, model, as_json)
    with progress(as_json) as shown:
        ex = run_inspect("trace", lm, prompt, progress=shown.callback("layers restored"), **params)
    m, best = ex.meta, ex.meta["best"]
    _emit(
        ex,
        as_json,
        html,
        f"p(target): clean {m['clean_prob']:.3f}, corrupted {m['corrupted_prob']:.3f}. "
        f"Strongest restoration: layer {best['layer']}, position {best['position']} {best['token']!r} "
        f"({best['score']:.2f}).",
    )


@app.command("attribution-patch")
@handle_errors
@spec_options(OPTIONS["attribution-patch"])
def attribution_patch_cmd(
    ctx: typer.Context,
    clean: str = CleanArgument,
    corrupted: str = CorruptedArgument,
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
    **params: Any,
) -> None:
    """Attribution patching: the patching sweep estimated from 2 forwards and 1 backward."""
    lm = _load(ctx, model, as_json)
    what = "exact patching (for comparison), layers"
    with progress(as_json) as shown:
        ex = run_inspect("attribution_patch", lm, clean, corrupted, progress=shown.callback(what), **params)
    a = ex.meta.get("agreement")
    _emit(
        ex,
        as_json,
        html,
        a
        and f"agreement with exact patching: pearson {a['pearson']:.3f}, "
        f"spearman {a['spearman']:.3f}, max error {a['max_abs_error']:.3f}",
    )


@app.command("ablate")
@handle_errors
@spec_options(OPTIONS["ablate"])
def ablate_cmd(
    ctx: typer.Context,
    prompt: str = PromptArgument,
    reference: Path | None = typer.Option(None, help="Texts whose mean activations --how mean uses (default: prompt)."),
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
    **params: Any,
) -> None:
    """Zero- or mean-ablate heads, layers or neurons; report the change in p(target)."""
    lm = _load(ctx, model, as_json)
    ref = load_texts([reference]) if reference is not None else None
    ex = run_inspect("ablate", lm, prompt, reference=ref, **params)
    _emit(ex, as_json, html, f"p(target) without ablation: {ex.meta['original_prob']:.4f}")


@app.command("probe")
@handle_errors
@spec_options(OPTIONS["probe"])
def probe_cmd(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Labelled data: .conllu (POS per word), .tsv/.csv/.jsonl (text, label)."),
    limit: int | None = typer.Option(None, help="Use a seeded sample of this many texts."),
    text_column: str | None = typer.Option(None, "--text-column", help="Text column (default: found by name)."),
    label_column: str | None = typer.Option(None, "--label-column", help="Label column (or upos/xpos for .conllu)."),
    save: Path | None = typer.Option(None, help="Also fit one probe on all data at --save-layer and save it (.npz)."),
    save_layer: int | None = typer.Option(None, "--save-layer", help="Layer for --save (default: the best layer)."),
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
    **params: Any,
) -> None:
    """Linear probes by layer: accuracy, control-task accuracy and selectivity."""
    lm = _load(ctx, model, as_json)
    seed = params["seed"]
    dataset = load_labelled(data, text_column=text_column, label_column=label_column, limit=limit, seed=seed)
    with progress(as_json) as shown:
        ex = run_inspect("probe", lm, dataset, progress=shown.callback("texts, then layers"), **params)
    if save is not None:
        layer = save_layer if save_layer is not None else int(ex.meta["best_layer"])
        fitted = run_inspect("fit_probe", lm, dataset, layer=layer, seed=seed, chat=params["chat"])
        written = fitted.save(save, **fitted.info_)
        err_console.print(f"saved the layer-{layer} probe to {written}")
    m = ex.meta
    _emit(
        ex,
        as_json,
        html,
        f"majority-class baseline {m['majority_baseline']:.3f}; {m['n_examples']} examples; "
        f"best layer {m['best_layer']}",
    )


@app.command("steer")
@handle_errors
@spec_options(OPTIONS["steer"], optional={"layer": "Taken from the dictionary with --feature."})
def steer_cmd(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="Prompt to generate from."),
    positive: list[str] = typer.Option([], "--positive", help="Prompt (or file) for the + side (repeatable)."),
    negative: list[str] = typer.Option([], "--negative", help="Prompt (or file) for the − side (repeatable)."),
    probe_file: Path | None = typer.Option(None, "--probe", help="Instead: a probe saved by `inspect probe --save`."),
    feature: str | None = typer.Option(
        None, "--feature", help="Instead: a dictionary feature DIR:ID (its decoder direction, at its layer)."
    ),
    scale: float | None = typer.Option(None, "--scale", help="Steer at coefficients 0 and SCALE (instead of --coef)."),
    model: str | None = ModelOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
    **params: Any,
) -> None:
    """Generate with a steering vector added at a layer, one generation per coefficient."""
    if scale is not None:
        params["coefficients"] = [0.0, scale]
    if feature is not None:
        folder, latent = feature_explain.parse_feature(feature)  # before the model loads
    elif params["layer"] is None:
        raise InvalidInputError("Give --layer (the layer whose residual stream is steered), or --feature DIR:ID.")
    lm = _load(ctx, model, as_json)
    if feature is not None:
        direction, layer, params["site"] = feature_explain.steering_direction(lm, folder, latent)
        if params["layer"] not in (None, layer):
            raise InvalidInputError(f"Feature {feature} writes layer {layer}; drop --layer or give --layer {layer}.")
        params["layer"] = layer
    elif probe_file is not None:
        direction = load_probe(probe_file)
    elif positive and negative:
        pos, neg = load_texts(positive), load_texts(negative)
        direction = run_inspect("steering_vector", lm, pos, neg, layer=params["layer"])
    else:
        raise InvalidInputError(
            "Give --positive and --negative prompts, --probe FILE or --feature DIR:ID to define the direction."
        )
    ex = run_inspect("steer", lm, prompt, direction, **params)
    if not _emit(ex, as_json, html, grid=False):
        return
    table = Table(title=f"Steering at layer {params['layer']} — {lm.name}")
    table.add_column("coefficient", justify="right")
    table.add_column("generation")
    for g in ex.meta["generations"]:
        table.add_row(f"{g['coefficient']:+g}", g["text"])
    console.print(table)
