"""Feature dictionaries as user verbs: train, evaluate, describe.

``pellucid features ...`` ends here. Every parameter goes through the specs of
:mod:`pellucid.features.specs` and the corpus is checked *before* the caller loads a model
(:func:`check_train`), so a typo in a site name or an empty corpus fails in a second, not after
the model has loaded. The torch-level work lives in :mod:`pellucid.features`, imported on first
use so ``import pellucid.service`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError
from pellucid.features.specs import EVALUATE, TRAIN, train_layers, train_sites

if TYPE_CHECKING:
    from collections.abc import Callable

    from pellucid.features.corpus import Corpus
    from pellucid.features.evaluate import EvalReport
    from pellucid.features.train import Progress, TrainResult
    from pellucid.models import LM


def check_train(data: Corpus, **params: Any) -> dict[str, Any]:
    """Resolve the training parameters and check the corpus; returns them with ``sites`` added.

    ``data`` is a corpus file or any re-iterable of texts, such as the logged records of a window
    (:func:`pellucid.service.feature_corpus.record_corpus`).
    """
    from pellucid.features.corpus import check_corpus

    resolved = TRAIN.resolve(params)
    if resolved["k"] > resolved["latents"]:
        raise InvalidInputError(
            f"k={resolved['k']} is more than the {resolved['latents']} latents; choose k ≤ latents (typically 16-64)."
        )
    if resolved["skip"] and not resolved["transcoder"]:
        raise InvalidInputError(
            "--skip adds a linear skip term to a transcoder; give --transcoder too (a sparse autoencoder has none)."
        )
    if resolved["layers"] is not None:
        resolved["layer_list"] = train_layers(
            resolved["transcoder"], resolved["site"], resolved["layer"], resolved["layers"]
        )
        resolved["sites"] = None
    else:
        resolved["sites"] = train_sites(resolved["site"], resolved["transcoder"], resolved["layer"])
    check_corpus(data, resolved["text_field"])
    return resolved


def train(
    lm: LM,
    data: Corpus,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    **params: Any,
) -> TrainResult:
    """Train a dictionary for ``lm`` on ``data`` (parameters as :data:`~pellucid.features.specs.TRAIN`).

    ``data`` is a corpus file or texts; to train on the traffic logged in a window of the store,
    pass ``record_corpus(store, "last:7d")`` (:mod:`pellucid.service.feature_corpus`).
    """
    from pellucid.features.pipeline import train_dictionary

    p = check_train(data, **params)
    if p["sites"] is None:
        raise InvalidInputError("--layers trains many transcoders: call train_transcoders (the CLI does).")
    site, site_out = p["sites"]
    config = _train_config(p, out is not None)
    return train_dictionary(
        lm,
        data,
        site,
        latents=p["latents"],
        k=p["k"],
        architecture=p["architecture"],
        skip=p["skip"],
        site_out=site_out,
        config=config,
        out=out,
        resume=resume,
        progress=progress,
        context=p["context"],
        text_field=p["text_field"],
    )


def _train_config(p: dict[str, Any], checkpoints: bool) -> Any:
    from pellucid.features.train import TrainConfig

    return TrainConfig(tokens=p["tokens"], batch_size=p["batch_size"], lr=p["lr"], seed=p["seed"],
                       checkpoint_every=p["checkpoint_every"] if checkpoints else 0)  # fmt: skip


def train_transcoders(
    lm: LM,
    data: Corpus,
    *,
    out: str | Path,
    resume: bool = False,
    progress: Progress | None = None,
    eval_data: str | Path | None = None,
    eval_progress: Callable[[int, int], None] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """One transcoder per layer of ``--layers`` in one pass over ``data``, saved under ``out``.

    With ``eval_data`` each layer is evaluated on it and the replacement model (every trained
    layer replaced) is compared with the original; the summary is ``out/pellucid_transcoders.json``.
    It is written as soon as training ends and again with the evaluations, so an evaluation that
    is interrupted loses none of the training. ``eval_progress(done, total)`` counts the layers
    evaluated and then the replacement model.
    """
    import json

    from pellucid.features.multi_train import check_layers, write_transcoder_summary
    from pellucid.features.multi_train import train_transcoders as run

    p = check_train(data, **params)
    if p["sites"] is not None:
        raise InvalidInputError("train_transcoders needs --transcoder --layers all|L1,L2,...")
    layers = check_layers(lm, p["layer_list"])
    results = run(lm, data, layers, latents=p["latents"], k=p["k"], out=out, architecture=p["architecture"],
                  skip=p["skip"], config=_train_config(p, True), resume=resume, progress=progress, context=p["context"],
                  text_field=p["text_field"])  # fmt: skip
    pending = {
        "note": "not measured: the evaluation (--eval) did not finish; each layer can be evaluated "
        "alone with `pellucid features evaluate FOLDER/layer_<L> --data FILE`"
    }
    path = write_transcoder_summary(out, results, None, pending if eval_data is not None else None)
    if eval_data is not None:
        evaluations, replacement = _evaluate_transcoders(lm, results, eval_data, out, p, eval_progress)
        path = write_transcoder_summary(out, results, evaluations, replacement)
    return dict(json.loads(path.read_text(encoding="utf-8")), folder=str(out))


def _evaluate_transcoders(
    lm: LM, results: dict[int, Any], eval_data: str | Path, out: str | Path, p: dict[str, Any],
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """Each layer's held-out evaluation (saved in its folder), then the replacement model's agreement."""
    from pellucid.features.evaluate import evaluate as run_eval
    from pellucid.features.multi_train import layer_folder
    from pellucid.features.replacement_eval import replacement_agreement

    total = len(results) + 1
    evaluations = {}
    for done, (layer, r) in enumerate(results.items()):
        if progress is not None:
            progress(done, total)
        evaluations[layer] = run_eval(lm, r.dictionary, eval_data, max_tokens=p["eval_tokens"], context=p["context"],
                                      out=layer_folder(out, layer)).to_dict()  # fmt: skip
    if progress is not None:
        progress(total - 1, total)
    transcoders = {layer: r.dictionary for layer, r in results.items()}
    replacement = replacement_agreement(lm, transcoders, eval_data, max_tokens=p["eval_tokens"], context=p["context"])
    if progress is not None:
        progress(total, total)
    return evaluations, replacement


def evaluate(lm: LM, folder: str | Path, data: str | Path, **params: Any) -> EvalReport:
    """Evaluate the dictionary in ``folder`` on held-out ``data``; the report is saved in the folder."""
    from pellucid.features import saelens_format
    from pellucid.features.corpus import check_corpus
    from pellucid.features.evaluate import evaluate as run

    p = EVALUATE.resolve(params)
    check_corpus(data, p["text_field"])
    dictionary = saelens_format.load(folder, lm)
    return run(
        lm, dictionary, data, max_tokens=p["max_tokens"], context=p["context"], text_field=p["text_field"], out=folder
    )


def info(folder: str | Path) -> dict[str, Any]:
    """What a dictionary folder holds: its configuration, training summary and evaluation (no model needed)."""
    import json

    from pellucid.features.saelens_format import read_config

    folder = Path(folder)
    summary = folder / "pellucid_transcoders.json"  # a folder of per-layer transcoders (features train --layers)
    if summary.is_file() and not (folder / "cfg.json").is_file():
        return {
            "folder": str(folder),
            "kind": "transcoders per layer",
            **json.loads(summary.read_text(encoding="utf-8")),
        }
    cfg = read_config(folder)
    meta = cfg.get("metadata") or {}
    out: dict[str, Any] = {
        "folder": str(folder),
        "architecture": meta.get("pellucid_architecture") or cfg.get("architecture"),
        "skip": str(cfg.get("architecture", "")).endswith("_skip_transcoder"),  # a skip transcoder's linear term
        "model": meta.get("model_name") or cfg.get("model_name"),
        "site": meta.get("pellucid_site"),
        "site_out": meta.get("pellucid_site_out"),
        "hook_name": meta.get("hook_name") or cfg.get("hook_name"),
        "d_in": cfg.get("d_in"),
        "d_sae": cfg.get("d_sae"),
        "k": cfg.get("k"),
    }
    for key, name in (("train", "pellucid_train.json"), ("evaluation", "pellucid_eval.json")):
        path = folder / name
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            data.pop("history", None)
            out[key] = data
    return out


def show(lm: LM, folder: str | Path, feature: int, data: str | Path, *, top: int = 10, max_tokens: int = 20_000) -> Any:
    """One feature of the dictionary in ``folder``: top contexts in ``data``, histogram, logit effects."""
    from pellucid.features import saelens_format
    from pellucid.features.corpus import check_corpus
    from pellucid.features.show import show_feature

    check_corpus(data)
    dictionary = saelens_format.load(folder, lm)
    return show_feature(lm, dictionary, feature, data, top=top, max_tokens=max_tokens)
