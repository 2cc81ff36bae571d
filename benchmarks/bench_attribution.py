"""Attribution speed and agreement on SmolLM2: Pellucid vs Captum (and inseq when installed).

Both tools explain the same thing in one process: a ~40-token chat prompt (the SmolLM2 chat
template with its default system prompt and a user question), a 5-token target, every prompt
token a feature, the same replacement token (id 0) for perturbation methods and the
same IG baseline (the embedding of token 0) and 50 Gauss–Legendre steps. Captum runs
``LLMAttribution`` with ``forward_in_tokens=False`` — its fastest configuration that gives the
correct log-probabilities — and ``LLMGradientAttribution`` over the embedding layer.
Pellucid runs its models' linear layers on oneDNN (:mod:`pellucid.models.fast_linear`); the
peers get a copy of the same weights with PyTorch's stock modules, as their users run them.
``PELLUCID_FAST_KERNELS=0`` runs Pellucid on the stock path too, to separate the kernels' share
of the ratio from the engine's.

For each method the script prints both wall times, the ratio (Captum / Pellucid), the peak
resident memory while the call ran (``VmHWM`` after resetting it through
``/proc/self/clear_refs``), and how far apart the two results are:

- occlusion: largest absolute difference of every token row (must be ≤ 1e-4);
- integrated_gradients, grad_x_input: largest difference relative to the largest score;
- kernel_shap, lime: Captum returns the sequence row only; the error of each against exact
  Shapley values is measured separately on a prompt of ≤ 10 tokens (``--shapley-check``),
  at the same sample count and at Captum's wall time.

Timings on a shared 2-core machine move 30–50 % between runs; only ratios from one run mean
anything. Each side runs ``--repeats`` times, interleaved, and keeps its best time.

    python benchmarks/bench_attribution.py [--methods occlusion,kernel_shap,...] [--repeats 1]
    python benchmarks/bench_attribution.py --isolated --methods integrated_gradients

``--isolated`` runs each side of each method in a fresh process (model load, one warm-up-free
call) and reports that process's peak resident memory: in one process the allocator keeps the
other tool's freed memory resident, so only separate processes give per-side peaks.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pellucid.attribution import explain
from pellucid.models import LM, fast_linear
from pellucid.settings import Settings

QUESTION = "What is the capital of France? Please answer in one short sentence."
TARGET = "The capital of France is"
SHORT_PROMPT = "The Eiffel Tower stands in the city of"
SHORT_TARGET = " Paris"
BASELINE_ID = 0
ALL_SEGMENTS = ("system", "user", "assistant", "template")
METHODS = ("occlusion", "kernel_shap", "lime", "integrated_gradients", "grad_x_input")


# -- memory -----------------------------------------------------------------------------
def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    """Reset the process's peak RSS (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_mib() -> float:
    return _status_kib("VmHWM") / 1024


# -- one timed call -----------------------------------------------------------------------
@dataclass
class Run:
    seconds: float = float("inf")
    peak_mib: float = 0.0
    result: Any = None
    runs: list[float] = field(default_factory=list)


def timed(fn: Callable[[], Any], into: Run) -> None:
    reset_peak()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    into.runs.append(seconds)
    if seconds < into.seconds:
        into.seconds, into.result = seconds, result
    into.peak_mib = max(into.peak_mib, peak_mib())


# -- the two sides ------------------------------------------------------------------------
def stock_model(lm: LM) -> Any:
    """A copy of ``lm.model`` with PyTorch's own linear layers, as the peers' users run it.

    Pellucid switches the linear layers of the models it loads to oneDNN's kernels
    (:mod:`pellucid.models.fast_linear`); the peers get the same weights on the default path.
    """
    import copy

    model = copy.deepcopy(lm.model)
    fast_linear.restore(model)
    return model


class CaptumSide:
    """Captum 0.9's LLM wrappers around the same weights (stock PyTorch modules)."""

    def __init__(self, lm: LM, text: str, target_ids: list[int], model: Any = None) -> None:
        from captum.attr import TextTokenInput

        self.model, self.tokenizer = stock_model(lm) if model is None else model, lm.tokenizer
        self.inp = TextTokenInput(text, self.tokenizer, baselines=BASELINE_ID)
        self.target = torch.tensor(target_ids)
        self.embed = self.model.get_input_embeddings()

    def run(self, method: str, n_samples: int = 200, steps: int = 50) -> dict[str, np.ndarray | None]:
        from captum.attr import (
            FeatureAblation,
            KernelShap,
            LayerGradientXActivation,
            LayerIntegratedGradients,
            Lime,
            LLMAttribution,
            LLMGradientAttribution,
        )

        if method in ("occlusion", "kernel_shap", "lime"):
            algo = {"occlusion": FeatureAblation, "kernel_shap": KernelShap, "lime": Lime}[method](self.model)
            kwargs: dict[str, Any] = {} if method == "occlusion" else {"n_samples": n_samples}
            res = LLMAttribution(algo, self.tokenizer).attribute(
                self.inp, target=self.target, forward_in_tokens=False, **kwargs
            )
        else:
            layer = LayerIntegratedGradients if method == "integrated_gradients" else LayerGradientXActivation
            kwargs = {"n_steps": steps} if method == "integrated_gradients" else {}
            res = LLMGradientAttribution(layer(self.model, self.embed), self.tokenizer).attribute(
                self.inp, target=self.target, **kwargs
            )
        tokens = None if res.token_attr is None else res.token_attr.detach().double().numpy()
        return {"seq": res.seq_attr.detach().double().numpy(), "tokens": tokens}


class InseqSide:
    """inseq 0.7 on the same model and prompt: each target token attributed in turn (its default
    for decoder-only models), every prompt and earlier target token a feature. Timed only: its
    scores are laid out per generation step, so agreement is checked against Captum instead."""

    METHODS = {"occlusion": "occlusion", "integrated_gradients": "integrated_gradients",
               "grad_x_input": "input_x_gradient", "lime": "lime"}  # fmt: skip

    def __init__(self, lm: LM, text: str, target_text: str, model: Any = None) -> None:
        self.lm, self.text, self.full = lm, text, text + target_text
        self.model = stock_model(lm) if model is None else model
        self._models: dict[str, Any] = {}

    @staticmethod
    def available() -> bool:
        try:
            import inseq  # noqa: F401
        except ImportError:
            return False
        return True

    def run(self, method: str, n_samples: int = 200, steps: int = 50) -> None:
        import inseq

        name = self.METHODS[method]
        if name not in self._models:
            self._models[name] = inseq.load_model(self.model, name, tokenizer=self.lm.tokenizer)
        kwargs: dict[str, Any] = {"n_steps": steps} if method == "integrated_gradients" else {}
        if method == "lime":
            kwargs["n_samples"] = n_samples
        self._models[name].attribute(self.text, self.full, show_progress=False, skip_special_tokens=False, **kwargs)


def pellucid_run(lm: LM, prompt: Any, target: str, method: str, *, chat: bool, **params: Any) -> Any:
    if method in ("occlusion", "kernel_shap", "lime", "shapley"):
        params.setdefault("baseline", str(BASELINE_ID))
    if method == "integrated_gradients":
        params.setdefault("baseline", str(BASELINE_ID))
        params.setdefault("steps", 50)
    return explain(lm, prompt, target, method=method, granularity="token", segments=ALL_SEGMENTS, chat=chat, **params)


def _rows(ex: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pellucid's token rows and sequence row over the attributed tokens."""
    scores = np.asarray(ex.scores, dtype=float)
    keep = ~np.isnan(scores[-1])
    return scores[:-1][:, keep], scores[-1][keep]


def compare(method: str, ours: Any, theirs: dict[str, Any]) -> dict[str, float]:
    tokens, seq = _rows(ours)
    out: dict[str, float] = {}
    if theirs["seq"].shape != seq.shape:
        return {"shape_mismatch": 1.0}
    scale = max(float(np.abs(seq).max()), 1e-12)
    out["seq_max_abs_diff"] = float(np.abs(theirs["seq"] - seq).max())
    out["seq_max_rel_diff"] = out["seq_max_abs_diff"] / scale
    if theirs["tokens"] is not None:
        out["token_max_abs_diff"] = float(np.abs(theirs["tokens"] - tokens).max())
    if method in ("kernel_shap", "lime"):
        out["seq_corr"] = float(np.corrcoef(theirs["seq"], seq)[0, 1])
    return out


# -- the Shapley accuracy check -------------------------------------------------------------
def shapley_check(lm: LM, captum_samples: int, repeats: int, peer_model: Any) -> dict[str, Any]:
    """Error of KernelSHAP estimates against exact Shapley values on a ≤ 10-token prompt."""
    from captum.attr import KernelShap, LLMAttribution, TextTokenInput

    exact = pellucid_run(lm, SHORT_PROMPT, SHORT_TARGET, "shapley", chat=False, max_features=12)
    _, truth = _rows(exact)
    inp = TextTokenInput(SHORT_PROMPT, lm.tokenizer, baselines=BASELINE_ID)
    target = torch.tensor(lm.encode_target(SHORT_TARGET))

    def err(values: np.ndarray) -> float:
        return float(np.linalg.norm(values - truth) / np.linalg.norm(truth))

    captum_errors, captum_times = [], []
    for seed in range(repeats):
        torch.manual_seed(seed)
        start = time.perf_counter()
        res = LLMAttribution(KernelShap(peer_model), lm.tokenizer).attribute(
            inp, target=target, forward_in_tokens=False, n_samples=captum_samples
        )
        captum_times.append(time.perf_counter() - start)
        captum_errors.append(err(res.seq_attr.detach().double().numpy()))
    ours_same, ours_times = [], []
    for seed in range(repeats):
        start = time.perf_counter()
        ex = pellucid_run(
            lm, SHORT_PROMPT, SHORT_TARGET, "kernel_shap", chat=False, n_samples=captum_samples, seed=seed
        )
        ours_times.append(time.perf_counter() - start)
        ours_same.append(err(_rows(ex)[1]))
    # the sample count Pellucid affords in Captum's wall time
    per_sample = float(np.median(ours_times)) / captum_samples
    budget = int(min(4 * 2 ** len(truth), float(np.median(captum_times)) / per_sample))
    ours_budget = [
        err(_rows(pellucid_run(lm, SHORT_PROMPT, SHORT_TARGET, "kernel_shap", chat=False, n_samples=budget, seed=s))[1])
        for s in range(repeats)
    ]
    return {
        "features": len(truth),
        "samples": captum_samples,
        "captum_rel_error": float(np.mean(captum_errors)),
        "pellucid_rel_error_same_samples": float(np.mean(ours_same)),
        "pellucid_samples_at_captum_time": budget,
        "pellucid_rel_error_at_captum_time": float(np.mean(ours_budget)),
        "captum_seconds": float(np.median(captum_times)),
        "pellucid_seconds": float(np.median(ours_times)),
    }


# -- main -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=200, help="LIME/KernelSHAP samples")
    parser.add_argument("--shapley-check", action="store_true", help="also measure KernelSHAP error vs exact")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--isolated", action="store_true", help="each side in its own process (peak RSS per side)")
    parser.add_argument("--inseq", action=argparse.BooleanOptionalAction, default=True,
                        help="also time inseq 0.7 when it is installed")  # fmt: skip
    parser.add_argument("--side", choices=("pellucid", "captum", "inseq"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.isolated:
        isolated(args)
        return

    settings = Settings.from_env()
    lm = LM.load(args.model, settings)
    messages = [{"role": "user", "content": QUESTION}]
    if args.side is not None:
        one_side(args, lm, messages)
        return
    enc = lm.encode(messages, chat=True)
    target_text = TARGET
    target_ids = lm.encode_target(target_text)
    peer_model = stock_model(lm)
    captum = CaptumSide(lm, enc.text, target_ids, peer_model)
    captum_ids = lm.tokenizer(enc.text, add_special_tokens=True)["input_ids"]
    if list(captum_ids) != list(enc.ids):
        raise SystemExit("Captum and Pellucid tokenize the prompt differently; the comparison would not be fair.")
    print(f"model {lm.name}: prompt {len(enc.ids)} tokens (all attributed), target {len(target_ids)} tokens "
          f"{lm.decode_tokens(target_ids)}, {args.threads} threads")  # fmt: skip
    kernels = "oneDNN" if fast_linear.accelerated(lm.model) else "PyTorch default"
    if settings.fast_kernels == "auto":
        kernels += f" (auto: oneDNN measured {fast_linear.measured_gain():.2f}x, bar {fast_linear.MIN_GAIN}x)"
    print(f"linear layers: Pellucid {kernels}; Captum and inseq PyTorch default (stock modules, same weights)")

    figures: dict[str, Any] = {"prompt_tokens": len(enc.ids), "target_tokens": len(target_ids), "methods": {}}
    inseq_side = InseqSide(lm, enc.text, target_text, peer_model) if args.inseq and InseqSide.available() else None
    header = f"{'method':22} {'pellucid s':>10} {'captum s':>9} {'ratio':>6} {'pl MiB':>7} {'ca MiB':>7}  agreement"
    print(header)
    for method in args.methods.split(","):
        ours, theirs = Run(), Run()
        extra = {"n_samples": args.samples} if method in ("kernel_shap", "lime") else {}
        for _ in range(args.repeats):
            timed(lambda m=method, e=extra: pellucid_run(lm, messages, target_text, m, chat=True, **e), ours)
            timed(lambda m=method: captum.run(m, n_samples=args.samples), theirs)
        agreement = compare(method, ours.result, theirs.result)
        ratio = theirs.seconds / ours.seconds
        if inseq_side is not None and method in InseqSide.METHODS:
            other = Run()
            for _ in range(args.repeats):
                timed(lambda m=method: inseq_side.run(m, n_samples=args.samples), other)
            figures.setdefault("inseq", {})[method] = {"seconds": other.seconds, "ratio": other.seconds / ours.seconds}
            faster = other.seconds / ours.seconds
            print(f"{'  inseq ' + method:22} {other.seconds:10.2f} s, Pellucid {faster:.1f}x faster", flush=True)
        figures["methods"][method] = {
            "pellucid_seconds": ours.seconds, "captum_seconds": theirs.seconds, "ratio": ratio,
            "pellucid_peak_mib": ours.peak_mib, "captum_peak_mib": theirs.peak_mib, "agreement": agreement,
            "forward_passes": ours.result.meta.get("forward_passes"),
        }  # fmt: skip
        shown = ", ".join(f"{k}={v:.2e}" for k, v in agreement.items())
        print(f"{method:22} {ours.seconds:10.2f} {theirs.seconds:9.2f} {ratio:6.1f} {ours.peak_mib:7.0f} "
              f"{theirs.peak_mib:7.0f}  {shown}", flush=True)  # fmt: skip
    if args.shapley_check:
        check = shapley_check(lm, args.samples, max(args.repeats, 3), peer_model)
        figures["shapley_check"] = check
        print("KernelSHAP vs exact Shapley:", json.dumps(check, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


def one_side(args: argparse.Namespace, lm: LM, messages: list[dict[str, str]]) -> None:
    """Child of ``--isolated``: one call of one side, then a JSON line with its time and peak RSS."""
    method = args.methods
    extra = {"n_samples": args.samples} if method in ("kernel_shap", "lime") else {}
    run = Run()
    if args.side == "pellucid":
        timed(lambda: pellucid_run(lm, messages, TARGET, method, chat=True, **extra), run)
    elif args.side == "inseq":
        side = InseqSide(lm, lm.encode(messages, chat=True).text, TARGET)
        timed(lambda: side.run(method, n_samples=args.samples), run)
    else:
        enc = lm.encode(messages, chat=True)
        captum = CaptumSide(lm, enc.text, lm.encode_target(TARGET))
        timed(lambda: captum.run(method, n_samples=args.samples), run)
    print(json.dumps({"seconds": run.seconds, "peak_mib": _status_kib("VmHWM") / 1024}))


def isolated(args: argparse.Namespace) -> None:
    """Each (method, side) in a fresh process; sides alternate so both see the same machine load."""
    import subprocess
    import sys

    sides = ["pellucid", "captum"] + (["inseq"] if args.inseq and InseqSide.available() else [])
    print(f"{'method':22} {'side':9} {'seconds':>8} {'Pellucid faster':>15} {'peak MiB':>9}")
    figures: dict[str, Any] = {}
    for method in args.methods.split(","):
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.repeats):
            for side in sides:
                if side == "inseq" and method not in InseqSide.METHODS:
                    continue
                cmd = [sys.executable, __file__, "--side", side, "--methods", method, "--model", args.model,
                       "--threads", str(args.threads), "--samples", str(args.samples)]  # fmt: skip
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
                got = json.loads(out)
                if side not in best or got["seconds"] < best[side]["seconds"]:
                    best[side] = {**got, "peak_mib": max(got["peak_mib"], best.get(side, {}).get("peak_mib", 0))}
        figures[method] = best
        for side, got in best.items():
            faster = "" if side == "pellucid" else f"{got['seconds'] / best['pellucid']['seconds']:.1f}x"
            print(f"{method:22} {side:9} {got['seconds']:8.2f} {faster:>15} {got['peak_mib']:9.0f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
