"""``pellucid inspect ...``: look inside the model (activations, attention, logit lens, DLA,
patching, causal tracing, ablation, probes, steering).

Each subcommand calls one function of :mod:`pellucid.inspect` and renders the resulting
Explanation: a coloured grid in the terminal, ``--json`` for scripts, ``--html FILE`` for a
standalone page. Prompts are raw text unless ``--chat`` is given (next-token analyses read
completions such as "The Eiffel Tower is located in the city of").
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import typer
from rich.table import Table

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
from pellucid.errors import InvalidInputError

if TYPE_CHECKING:
    from pellucid.models import LM
    from pellucid.types import Explanation

app = typer.Typer(help="Look inside the model: where an answer is formed.", no_args_is_help=True)

ChatOption = typer.Option(False, "--chat/--raw", help="Apply the chat template (default: raw text).")
HtmlOption = typer.Option(None, "--html", help="Also write a standalone HTML page to this file.")
LayersOption = typer.Option(None, "--layers", "-l", help="Layers, e.g. '0,5,10', '0-11' or '-1' (default: all).")
TargetOption = typer.Option(..., "--target", "-t", help="Next token to explain, e.g. ' Paris' (mind the space).")
FoilOption = typer.Option(None, "--foil", "-f", help="Competing token, e.g. ' Rome' (logit difference).")
PromptArgument = typer.Argument(..., help="Text to run.")
CleanArgument = typer.Argument(..., help="Clean prompt, e.g. 'The Eiffel Tower is located in the city of'.")
CorruptedArgument = typer.Argument(..., help="Corrupted prompt of the same token length.")
HeadsOption = typer.Option(None, "--heads", help="Heads, e.g. '0,3' (default: all).")
PatchSiteOption = typer.Option("resid_pre", help="resid_pre, resid_post, attn.out, mlp.out or heads.")
MetricOption = typer.Option(None, help="logit_diff (default with --foil), prob or logprob.")
AlignOption = typer.Option(False, "--align", help="Pad the shorter prompt where the two differ.")
_INT, _RANGE = re.compile(r"-?\d+"), re.compile(r"(\d+)-(\d+)")


def parse_ints(text: str | None, what: str = "layers") -> list[int] | None:
    """``'0,3-5,-1'`` -> ``[0, 3, 4, 5, -1]``; ``None``/``'all'`` -> ``None`` (all)."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    out: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if _INT.fullmatch(part):
            out.append(int(part))
        elif (m := _RANGE.fullmatch(part)) and int(m.group(1)) <= int(m.group(2)):
            out.extend(range(int(m.group(1)), int(m.group(2)) + 1))
        else:
            raise InvalidInputError(f"--{what} {text!r}: {part!r} is not a number or a range like '0-11'.")
    return out


def _load(ctx: typer.Context, model: str | None, quiet: bool) -> tuple[ModuleType, LM]:
    """The methods (imported here so torch loads only when a subcommand runs) and the model."""
    import pellucid.inspect as methods

    return methods, load_lm(model, settings_from(ctx), quiet=quiet)


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
    return True


@app.command("activations")
@handle_errors
def activations_cmd(
    ctx: typer.Context,
    prompt: str | None = typer.Argument(None, help="Text to run (not needed with --texts)."),
    site: str = typer.Option("resid_post", help="resid_pre, resid_post, attn.out, mlp.out or mlp.post."),
    layers: str | None = LayersOption,
    reduce: str = typer.Option("norm", help="norm, mean, max or min over the hidden dimension."),
    top_neurons: int = typer.Option(0, "--top-neurons", help="Instead: the K most active MLP neurons at --position."),
    position: int = typer.Option(-1, help="Token position for --top-neurons (default: last)."),
    neuron: str | None = typer.Option(None, help="Instead: a neuron 'layer.index' to search --texts for."),
    texts: Path | None = typer.Option(None, help="File of texts (.txt lines, .csv/.tsv/.jsonl/.conllu) for --neuron."),
    k: int = typer.Option(20, help="Examples to show for --neuron."),
    limit: int | None = typer.Option(None, help="Read at most this many texts."),
    model: str | None = ModelOption,
    chat: bool = ChatOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
) -> None:
    """Per-token activation size by layer; or top neurons for a token; or a neuron's top tokens."""
    pi, lm = _load(ctx, model, as_json)
    if neuron is not None:
        source = texts if texts is not None else ([prompt] if prompt else None)
        if source is None:
            raise InvalidInputError("--neuron needs --texts FILE (or a PROMPT) to search.")
        ex = pi.top_activating_tokens(lm, source, neuron=neuron, k=k, limit=limit, chat=chat)
    elif prompt is None:
        raise InvalidInputError("Give a PROMPT (or --neuron with --texts).")
    elif top_neurons:
        ex = pi.top_neurons(lm, prompt, layers=parse_ints(layers), position=position, k=top_neurons, chat=chat)
    else:
        ex = pi.activations(lm, prompt, site=site, layers=parse_ints(layers), reduce=reduce, chat=chat)
    _emit(ex, as_json, html)


@app.command("attention")
@handle_errors
def attention_cmd(
    ctx: typer.Context,
    prompt: str = PromptArgument,
    layers: str | None = LayersOption,
    heads: str | None = HeadsOption,
    summary: bool = typer.Option(False, "--summary", help="Instead: mean attention entropy per layer and head."),
    rollout: bool = typer.Option(False, "--rollout", help="Instead: attention rollout over all layers."),
    model: str | None = ModelOption,
    chat: bool = ChatOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
) -> None:
    """Attention weights (head × query × key), a per-head entropy summary, or attention rollout."""
    pi, lm = _load(ctx, model, as_json)
    if summary:
        ex = pi.head_summary(lm, prompt, layers=parse_ints(layers), chat=chat)
    elif rollout:
        ex = pi.attention_rollout(lm, prompt, layers=parse_ints(layers), chat=chat)
    else:
        ex = pi.attention(lm, prompt, layers=parse_ints(layers), heads=parse_ints(heads, "heads"), chat=chat)
    _emit(ex, as_json, html)


@app.command("logit-lens")
@handle_errors
def logit_lens_cmd(
    ctx: typer.Context,
    prompt: str = PromptArgument,
    target: str | None = typer.Option(None, "--target", "-t", help="Token to score (default: the model's prediction)."),
    layers: str | None = LayersOption,
    score: str = typer.Option("prob", help="prob, logprob or rank."),
    top_k: int = typer.Option(5, "--top-k", help="Top predictions kept per cell."),
    embed: bool = typer.Option(False, "--embed", help="Add a row for the embeddings."),
    model: str | None = ModelOption,
    chat: bool = ChatOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
) -> None:
    """Decode each layer's residual stream with the final norm and unembedding."""
    pi, lm = _load(ctx, model, as_json)
    ex = pi.logit_lens(lm, prompt, target=target, layers=parse_ints(layers), score=score, top_k=max(top_k, 1),
                       include_embed=embed, chat=chat)  # fmt: skip
    if _emit(ex, as_json, html):
        table = Table(title="Top predictions at the last position")
        table.add_column("layer")
        table.add_column("top tokens (prob)")
        for label, cells in zip(ex.labels["layer"], ex.meta["top_k"]):
            table.add_row(label, "  ".join(f"{t['token']!r} {t['prob']:.3f}" for t in cells[-1]))
        console.print(table)


@app.command("dla")
@handle_errors
def dla_cmd(
    ctx: typer.Context,
    prompt: str = PromptArgument,
    target: str = TargetOption,
    foil: str | None = FoilOption,
    by: str = typer.Option("layer", help="layer (attn and MLP per layer) or head."),
    model: str | None = ModelOption,
    chat: bool = ChatOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
) -> None:
    """Direct logit attribution of target − foil at the last position to each layer or head."""
    pi, lm = _load(ctx, model, as_json)
    ex = pi.direct_logit_attribution(lm, prompt, target=target, foil=foil, by=by, chat=chat)
    m = ex.meta
    extra = f" + MLP {sum(m['mlp']):.4f} + attn bias {sum(m['attn_bias']):.4f}" if by == "head" else ""
    _emit(
        ex,
        as_json,
        html,
        f"logit difference {m['logit_diff']:.4f} = components {ex.scores.sum():.4f} + embed "
        f"{m['embed']:.4f} + bias {m['bias']:.4f}{extra} + residual {m['residual']:.2e}",
    )


@app.command("patch")
@handle_errors
def patch_cmd(
    ctx: typer.Context,
    clean: str = CleanArgument,
    corrupted: str = CorruptedArgument,
    target: str = TargetOption,
    foil: str | None = FoilOption,
    site: str = PatchSiteOption,
    metric: str | None = MetricOption,
    layers: str | None = LayersOption,
    positions: str | None = typer.Option(None, help="Positions, e.g. '0-5' (default: all)."),
    direction: str = typer.Option("denoise", help="denoise (clean into corrupted) or noise (the reverse)."),
    align: bool = AlignOption,
    naive: bool = typer.Option(False, "--naive", help="One full forward per patch (slow reference)."),
    model: str | None = ModelOption,
    chat: bool = ChatOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
) -> None:
    """Activation patching: restore clean activations one at a time (1 = clean, 0 = corrupted)."""
    pi, lm = _load(ctx, model, as_json)
    ex = pi.patch(lm, clean, corrupted, target=target, foil=foil, site=site, metric=metric, layers=parse_ints(layers),
                  positions=parse_ints(positions, "positions"), direction=direction, align=align,
                  method="naive" if naive else "fast", chat=chat)  # fmt: skip
    m = ex.meta
    _emit(ex, as_json, html, f"{m['metric']}: clean {m['clean_metric']:.4f}, corrupted {m['corrupted_metric']:.4f}")


@app.command("trace")
@handle_errors
def trace_cmd(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="A factual prompt, e.g. 'The Eiffel Tower is located in the city of'."),
    target: str = TargetOption,
    subject: str = typer.Option(..., "--subject", "-s", help="Words of the prompt to corrupt, e.g. 'Eiffel Tower'."),
    samples: int = typer.Option(10, help="Noise samples averaged."),
    noise: float = typer.Option(3.0, help="Noise std in units of the embedding std."),
    seed: int = typer.Option(0, help="Noise seed."),
    site: str = typer.Option("resid_post", help="resid_post, mlp.out or attn.out."),
    window: int = typer.Option(1, help="Consecutive layers restored together (ROME: 10 for mlp/attn)."),
    layers: str | None = LayersOption,
    model: str | None = ModelOption,
    chat: bool = ChatOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
) -> None:
    """Causal tracing (ROME): noise the subject, restore each (layer, position), measure p(target)."""
    pi, lm = _load(ctx, model, as_json)
    ex = pi.trace(lm, prompt, target=target, subject=subject, samples=samples, noise=noise, seed=seed, site=site,
                  window=window, layers=parse_ints(layers), chat=chat)  # fmt: skip
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
def attribution_patch_cmd(
    ctx: typer.Context,
    clean: str = CleanArgument,
    corrupted: str = CorruptedArgument,
    target: str = TargetOption,
    foil: str | None = FoilOption,
    site: str = PatchSiteOption,
    metric: str | None = MetricOption,
    layers: str | None = LayersOption,
    align: bool = AlignOption,
    compare: bool = typer.Option(True, "--compare/--no-compare", help="Also run exact patching and report agreement."),
    model: str | None = ModelOption,
    chat: bool = ChatOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
) -> None:
    """Attribution patching: the patching sweep estimated from 2 forwards and 1 backward."""
    pi, lm = _load(ctx, model, as_json)
    ex = pi.attribution_patch(lm, clean, corrupted, target=target, foil=foil, site=site, metric=metric,
                              layers=parse_ints(layers), align=align, compare=compare, chat=chat)  # fmt: skip
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
def ablate_cmd(
    ctx: typer.Context,
    prompt: str = PromptArgument,
    target: str = TargetOption,
    what: str = typer.Option("heads", help="heads, attn, mlp, layers or neurons."),
    how: str = typer.Option("zero", help="zero or mean."),
    layers: str | None = LayersOption,
    heads: str | None = HeadsOption,
    neuron: list[str] = typer.Option([], "--neuron", help="Neuron 'layer.index' (repeatable; with --what neurons)."),
    reference: Path | None = typer.Option(None, help="Texts whose mean activations --how mean uses (default: prompt)."),
    joint: bool = typer.Option(False, "--joint", help="Ablate all chosen components together."),
    model: str | None = ModelOption,
    chat: bool = ChatOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
) -> None:
    """Zero- or mean-ablate heads, layers or neurons; report the change in p(target)."""
    pi, lm = _load(ctx, model, as_json)
    ref = pi.load_texts(reference) if reference is not None else None
    ex = pi.ablate(lm, prompt, target=target, what=what, how=how, layers=parse_ints(layers),
                   heads=parse_ints(heads, "heads"), neurons=neuron or None, reference=ref, joint=joint,
                   chat=chat)  # fmt: skip
    _emit(ex, as_json, html, f"p(target) without ablation: {ex.meta['original_prob']:.4f}")


@app.command("probe")
@handle_errors
def probe_cmd(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="Labelled data: .conllu (POS per word), .tsv/.csv/.jsonl (text, label)."),
    layers: str | None = LayersOption,
    cv: int = typer.Option(5, help="Cross-validation folds."),
    limit: int | None = typer.Option(None, help="Use a seeded sample of this many texts."),
    split: str = typer.Option("type", help="type (folds by word type) or random."),
    control: bool = typer.Option(True, "--control/--no-control", help="Hewitt & Liang control task and selectivity."),
    text_column: str | None = typer.Option(None, "--text-column", help="Text column (default: found by name)."),
    label_column: str | None = typer.Option(None, "--label-column", help="Label column (or upos/xpos for .conllu)."),
    save: Path | None = typer.Option(None, help="Also fit one probe on all data at --save-layer and save it (.npz)."),
    save_layer: int | None = typer.Option(None, "--save-layer", help="Layer for --save (default: the best layer)."),
    seed: int = typer.Option(0, help="Seed for sampling, folds and control labels."),
    model: str | None = ModelOption,
    chat: bool = ChatOption,
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
) -> None:
    """Linear probes by layer: accuracy, control-task accuracy and selectivity."""
    pi, lm = _load(ctx, model, as_json)
    dataset = pi.load_labelled(data, text_column=text_column, label_column=label_column, limit=limit, seed=seed)
    ex = pi.probe(lm, dataset, layers=parse_ints(layers), cv=cv, control=control, split=split, seed=seed, chat=chat)
    if save is not None:
        layer = save_layer if save_layer is not None else int(ex.meta["best_layer"])
        fitted = pi.fit_probe(lm, dataset, layer=layer, seed=seed, chat=chat)
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


def _texts(values: list[str]) -> list[str]:
    """Each value is a prompt, or a file of prompts (one per line)."""
    from pellucid.inspect.data import load_texts

    out: list[str] = []
    for value in values:
        out.extend(load_texts(value) if Path(value).is_file() else [value])
    return out


@app.command("steer")
@handle_errors
def steer_cmd(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="Prompt to generate from."),
    layer: int = typer.Option(..., "--layer", help="Layer whose residual stream is steered."),
    positive: list[str] = typer.Option([], "--positive", help="Prompt (or file) for the + side (repeatable)."),
    negative: list[str] = typer.Option([], "--negative", help="Prompt (or file) for the − side (repeatable)."),
    probe_file: Path | None = typer.Option(None, "--probe", help="Instead: a probe saved by `inspect probe --save`."),
    coef: list[float] = typer.Option([0.0, 4.0, 8.0], "--coef", help="Coefficients (repeatable)."),
    normalize: bool = typer.Option(False, "--normalize", help="Scale the direction to unit length."),
    max_new_tokens: int = typer.Option(32, "--max-new-tokens", min=1),
    model: str | None = ModelOption,
    chat: bool | None = typer.Option(None, "--chat/--raw", help="Chat template (default: when the model has one)."),
    as_json: bool = JsonOption,
    html: Path | None = HtmlOption,
) -> None:
    """Generate with a steering vector added at a layer, one generation per coefficient."""
    pi, lm = _load(ctx, model, as_json)
    if probe_file is not None:
        direction = pi.LinearProbe.load(probe_file)
    elif positive and negative:
        direction = pi.steering_vector(lm, _texts(positive), _texts(negative), layer=layer)
    else:
        raise InvalidInputError("Give --positive and --negative prompts, or --probe FILE, to define the direction.")
    ex = pi.steer(lm, prompt, direction=direction, layer=layer, coefficients=coef, normalize=normalize,
                  max_new_tokens=max_new_tokens, chat=chat)  # fmt: skip
    if not _emit(ex, as_json, html, grid=False):
        return
    table = Table(title=f"Steering at layer {layer} — {lm.name}")
    table.add_column("coefficient", justify="right")
    table.add_column("generation")
    for g in ex.meta["generations"]:
        table.add_row(f"{g['coefficient']:+g}", g["text"])
    console.print(table)
