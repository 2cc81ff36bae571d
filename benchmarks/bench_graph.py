"""An attribution graph for a ≤ 16-token prompt on SmolLM2-135M, with the time of each phase.

The target: the whole graph (capture, logit rows, feature rows, pruning, self-check) in ≤ 60 s
on this machine. The cost does not depend on what the transcoders learned, only on their shape
and on how many features are active, so:

- ``--transcoders DIR`` uses a trained set (``pellucid features train --transcoder --layers all``);
- otherwise every layer gets a random TopK transcoder of the benchmark's shape (``--latents``,
  ``--k``: ``k`` active features per token and layer, as a trained one has), and
  ``--train-layers 0-3`` first trains those layers for real, quickly (``--train-tokens`` on the
  SST-2 and UD English EWT text in ``../shared/data``), to time the one-pass trainer as well —
  the other layers keep random stand-ins (named in the output).

The graph is computed ``--repeats`` times; the best total and its breakdown are printed.

    python benchmarks/bench_graph.py [--transcoders tc/] [--max-feature-nodes 500] [--repeats 2]
    python benchmarks/bench_graph.py --train-layers 0-1 --train-tokens 20000 --max-feature-nodes 64 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from pellucid.features.dictionary import DictionaryConfig, SparseDictionary
from pellucid.features.graph.engine import attribution_graph
from pellucid.features.graph.result import AttributionGraph
from pellucid.features.graph.transcoders import TranscoderSet, load_transcoders
from pellucid.models import LM, fast_linear
from pellucid.settings import Settings
from pellucid.spec import parse_int_list

PROMPT = "The Eiffel Tower is located in the city of"
_CANDIDATES = [Path(os.environ.get("PELLUCID_DATA_DIR", "")), Path(__file__).resolve().parents[2] / "shared" / "data"]
DATA = next((p for p in _CANDIDATES if str(p) != "." and p.is_dir()), Path("/work/shared/data"))


def random_transcoder(lm: LM, layer: int, latents: int, k: int) -> SparseDictionary:
    d = lm.d_model
    config = DictionaryConfig("topk", d, latents, k, f"blocks.{layer}.mlp.in", lm.name, lm.version,
                              site_out=f"blocks.{layer}.mlp.out", d_out=d)  # fmt: skip
    transcoder = SparseDictionary(config)
    g = torch.Generator().manual_seed(layer)
    with torch.no_grad():
        transcoder.W_enc.copy_(torch.randn(d, latents, generator=g) / d**0.5)
        transcoder.W_dec.copy_(torch.nn.functional.normalize(transcoder.W_enc.T.clone(), dim=-1))
    return transcoder


def _corpus(folder: Path) -> Path:
    """SST-2 training sentences and EWT's dev text, one per line (its test text stays held out)."""
    lines: list[str] = []
    sst = DATA / "sst2" / "train.tsv"
    if sst.is_file():
        lines += [row.split("\t")[0] for row in sst.read_text(encoding="utf-8").splitlines()[1:]]
    for conllu in sorted((DATA / "ud_english_ewt").glob("*-ud-dev.conllu")):
        lines += [
            x[len("# text = ") :] for x in conllu.read_text(encoding="utf-8").splitlines() if x.startswith("# text = ")
        ]
    if not lines:
        raise SystemExit(f"No training text under {DATA}; set PELLUCID_DATA_DIR or pass --transcoders.")
    path = folder / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _transcoders(lm: LM, args: argparse.Namespace, folder: Path) -> tuple[TranscoderSet, dict[str, Any]]:
    if args.transcoders:
        return load_transcoders(args.transcoders, lm), {"transcoders": args.transcoders}
    info: dict[str, Any] = {}
    by_layer = {layer: random_transcoder(lm, layer, args.latents, args.k) for layer in range(lm.n_layers)}
    if args.train_layers:
        from pellucid.features.multi_train import train_transcoders
        from pellucid.features.train import TrainConfig

        layers = parse_int_list(args.train_layers) or list(range(lm.n_layers))
        start = time.perf_counter()
        config = TrainConfig(tokens=args.train_tokens, batch_size=1024)
        results = train_transcoders(lm, _corpus(folder), layers, latents=args.latents, k=args.k, out=folder / "tc",
                                    config=config)  # fmt: skip
        by_layer.update({layer: r.dictionary for layer, r in results.items()})
        fve = {layer: round(r.history[-1]["fve"], 3) for layer, r in results.items() if r.history}
        seconds = round(time.perf_counter() - start, 1)
        info["training"] = {"layers": layers, "tokens": args.train_tokens, "seconds": seconds, "fve": fve}
    info["random_stand_ins"] = sorted(set(range(lm.n_layers)) - set(info.get("training", {}).get("layers", [])))
    return TranscoderSet(by_layer, str(folder / "tc")), info


def _report(lm: LM, graph: AttributionGraph, best: float, info: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": lm.name, "prompt_tokens": len(graph.tokens), "fast_kernels": fast_linear.kernel_present(),
        "best_total_seconds": round(best, 2), "breakdown": graph.meta["seconds"],
        "counts": {k: graph.meta[k] for k in ("active_features", "feature_rows", "logit_nodes", "kept_nodes",
                                              "kept_edges", "backward_passes")},
        "scores": graph.scores, "targets": graph.targets[:3],
        "completeness_identity_residual": graph.meta["completeness_identity"]["max_relative_residual"],
        "self_check": {k: graph.meta["self_check"].get(k) for k in ("measured", "predicted", "predicted_direct")},
        **info,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--transcoders", default=None, help="A trained transcoder folder (default: random weights).")
    parser.add_argument("--latents", type=int, default=4608)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--train-layers", default=None, help="Train these layers quickly first, e.g. '0-3'.")
    parser.add_argument("--train-tokens", type=int, default=100_000)
    parser.add_argument("--max-feature-nodes", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    lm = LM.load(args.model, Settings.from_env())
    with tempfile.TemporaryDirectory() as tmp:
        transcoders, info = _transcoders(lm, args, Path(tmp))
        best, graph = float("inf"), None
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = attribution_graph(lm, args.prompt, transcoders, max_feature_nodes=args.max_feature_nodes,
                                       batch_size=args.batch_size)  # fmt: skip
            took = time.perf_counter() - start
            if took < best:
                best, graph = took, result
    assert graph is not None
    print(json.dumps(_report(lm, graph, best, info), indent=2))


if __name__ == "__main__":
    main()
