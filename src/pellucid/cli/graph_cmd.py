"""``pellucid inspect graph PROMPT --transcoders DIR``: the attribution graph of the next token.

:mod:`pellucid.cli.inspect_cmd` registers :func:`graph_cmd` as ``inspect graph``. The options are
generated from :data:`pellucid.features.specs.GRAPH`; the folder and the options are checked
before the model loads. The terminal shows the target logits, the scores, the most
influential nodes and the self-check; ``--json FILE`` writes the pruned graph in Pellucid's schema
(``docs/circuits.md``), ``--neuronpedia FILE`` the graph JSON circuit-tracer's and Neuronpedia's
viewers read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from pellucid.cli.common import ModelOption, console, handle_errors, load_lm, settings_from
from pellucid.cli.progress import progress
from pellucid.cli.spec_options import spec_options
from pellucid.features.specs import GRAPH
from pellucid.service import graph as service

TranscodersOption = typer.Option(
    ..., "--transcoders", help="Folder of per-layer transcoders (features train --layers)."
)
JsonFileOption = typer.Option(None, "--json", help="Write the pruned graph (Pellucid's schema) to this file.")
NeuronpediaOption = typer.Option(None, "--neuronpedia", help="Write circuit-tracer/Neuronpedia graph JSON here.")
TOP_NODES = 15


def _summary(data: dict[str, Any]) -> None:
    targets = ", ".join(f"{t['token']!r} p={t['probability']:.3f}" for t in data["targets"])
    scores = data["scores"]
    console.print(f"targets: {targets}")
    console.print(
        f"replacement score {scores['replacement']:.3f}, completeness {scores['completeness']:.3f} "
        f"(pruned: {scores['pruned_replacement']:.3f}, {scores['pruned_completeness']:.3f}); "
        f"{len(data['nodes'])} nodes, {len(data['edges'])} edges kept of {data['meta']['active_features']} "
        "active features"
    )
    table = Table(title="most influential nodes")
    for column in ("node", "kind", "layer", "position", "token", "activation", "influence"):
        table.add_column(column)
    ranked = sorted((n for n in data["nodes"] if n["kind"] in ("feature", "error")), key=lambda n: -n["influence"])
    for node in ranked[:TOP_NODES]:
        token = data["tokens"][node["position"]]
        activation = f"{node['activation']:.3g}" if "activation" in node else "-"
        cells = (node["id"], node["kind"], str(node["layer"]), str(node["position"]), repr(token), activation)
        table.add_row(*cells, f"{node['influence']:.3g}")
    console.print(table)
    check = data["meta"].get("self_check")
    if check and check.get("ablated"):
        console.print(
            f"self-check: ablating {check['ablated']} top features moved the target by {check['measured']:.3g} "
            f"(graph predicted {check['predicted']:.3g}, direct edges {check['predicted_direct']:.3g})"
        )
        if check.get("warning"):
            console.print(f"[yellow]warning: {check['warning']}[/yellow]")


@handle_errors
@spec_options(GRAPH.params)
def graph_cmd(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="Prompt of at most 64 tokens, e.g. 'The Eiffel Tower is in the city of'."),
    transcoders: Path = TranscodersOption,
    json_file: Path | None = JsonFileOption,
    neuronpedia: Path | None = NeuronpediaOption,
    model: str | None = ModelOption,
    **params: Any,
) -> None:
    """Attribution graph over transcoder features: which features carried the next token, and how."""
    service.check_graph(transcoders, **params)  # before the model loads
    lm = load_lm(model, settings_from(ctx))
    with progress() as shown:
        graph = service.graph(lm, prompt, transcoders, progress=shown.callback("feature rows"), **params)
    data = graph.to_dict()
    if json_file is not None:
        json_file.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    if neuronpedia is not None:
        slug = neuronpedia.stem
        neuronpedia.write_text(json.dumps(graph.to_neuronpedia(slug), indent=1) + "\n", encoding="utf-8")
    _summary(data)
