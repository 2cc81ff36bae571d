"""Feature dictionaries as the workbench shows them: the list, one feature's page, features per token, moved features.

The server is told which dictionaries to serve (``pellucid serve --features DIR``,
``PELLUCID_FEATURES``, and the ``PELLUCID_ENRICH_FEATURES`` folder); each is known by its
folder's name, the name stored feature rows carry (:func:`~pellucid.service.feature_enrichment.dictionary_name`).

- :func:`list_dictionaries` reads each folder's configuration and figures (no model).
- :func:`feature_page` is ``pellucid features show`` over the store: the top contexts, histogram
  and density over the newest logged prompts and responses, the tokens the decoder promotes and
  suppresses, and the records whose stored features include it.
- :func:`token_features` runs one prompt to the dictionary's site (under the model's exclusive
  lease, like every hooked pass) and lists each token's strongest latents.
- :func:`moved_features` is feature drift between two windows (:func:`pellucid.service.drift.run_drift`)
  reduced to the latents that moved, each with the links the workbench follows.

Loaded dictionaries are kept per (model, folder, weights file time), so a page view does not re-read
the weights, and a folder trained again is read again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pellucid.errors import InvalidInputError, unknown_name
from pellucid.service.feature_enrichment import dictionary_name

if TYPE_CHECKING:
    from pellucid.features.dictionary import SparseDictionary
    from pellucid.models import LM
    from pellucid.models.lm import Prompt
    from pellucid.monitor.store import Store

#: evaluation figures a listing shows, when the folder has them
METRICS = ("fve", "l0", "dead_fraction", "dense_fraction", "ce_recovered")

#: the workbench's records view filtered by a feature (``NAME:ID`` follows)
RECORDS_LINK = "#monitor/records?feature="

_LOADED: dict[tuple[int, str, int], SparseDictionary] = {}
_LOCK = threading.Lock()


def served_folders(folders: Iterable[Path]) -> dict[str, Path]:
    """The served dictionaries by name; two different folders with one name are refused."""
    named: dict[str, Path] = {}
    for folder in folders:
        name = dictionary_name(folder)
        if name in named and named[name].resolve() != Path(folder).resolve():
            raise InvalidInputError(
                f"Two served dictionary folders share the name {name!r}: {str(named[name])!r} and {str(folder)!r}; "
                "rename one (the folder name is how the workbench and stored features know it)."
            )
        named[name] = Path(folder)
    return named


def folder_of(folders: dict[str, Path], name: str) -> Path:
    """The folder of the served dictionary ``name``."""
    if name not in folders:
        hint = "Start the server with --features DIR (or PELLUCID_FEATURES) to serve a dictionary."
        raise unknown_name("dictionary", name, folders, hint)
    return folders[name]


def list_dictionaries(folders: dict[str, Path]) -> list[dict[str, Any]]:
    """Name, model, site, latents and quality figures of each served dictionary (no model loaded)."""
    from pellucid.service.features import info

    out: list[dict[str, Any]] = []
    for name, folder in folders.items():
        try:
            data = info(folder)
        except (InvalidInputError, OSError) as exc:
            out.append({"name": name, "folder": str(folder), "error": str(exc)})
            continue
        evaluation = data.get("evaluation") or {}
        out.append(
            {
                "name": name,
                "folder": str(folder),
                "model": data["model"],
                "site": data["site"] or data["hook_name"],
                "architecture": data["architecture"],
                "latents": data["d_sae"],
                "k": data["k"],
                "metrics": {key: evaluation[key] for key in METRICS if isinstance(evaluation.get(key), int | float)},
            }
        )
    return out


def load_dictionary(lm: LM, folder: Path) -> SparseDictionary:
    """The dictionary in ``folder`` for ``lm`` (checked against it), loaded once per model and weights file."""
    from pellucid.features.saelens_format import WEIGHTS_FILE, load

    weights = folder / WEIGHTS_FILE
    key = (id(lm), str(folder.resolve()), weights.stat().st_mtime_ns if weights.is_file() else 0)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = load(folder, lm)
        return _LOADED[key]


def feature_page(
    lm: LM, folder: Path, feature: int, store: Store | None, *, window: str | None = None, top: int = 8,
    max_tokens: int = 4000,
) -> dict[str, Any]:  # fmt: skip
    """One feature: contexts, histogram and density over the newest logged texts, logit effects, records."""
    from pellucid.features.show import logit_effects, show_feature
    from pellucid.service.feature_corpus import RecordTexts

    dictionary = load_dictionary(lm, folder)
    name = dictionary_name(folder)
    texts = RecordTexts(store, window, newest_first=True) if store is not None else None
    if texts is not None and texts.count() > 0:
        view = show_feature(lm, dictionary, feature, texts, top=3 * top, max_tokens=max_tokens).to_dict()
        view["contexts"] = _distinct(view["contexts"])[:top]  # logged traffic repeats itself
    else:
        promoted, suppressed = logit_effects(lm, dictionary, feature)
        view = {"feature": feature, "tokens_read": 0, "density": 0.0, "max_activation": 0.0, "contexts": [],
                "histogram": {"edges": [], "counts": []}, "promoted": promoted, "suppressed": suppressed}  # fmt: skip
    found = store.repo.records_with_feature(name, feature, limit=top) if store is not None else []
    for key in ("promoted", "suppressed"):
        view[key] = [{"token": token, "value": value} for token, value in view[key]]
    view.update(
        dictionary=name,
        site=dictionary.config.site,
        source=f"logged prompts and responses ({window or 'all records'}, newest first)",
        records=[{"id": rid, "activation": value} for rid, value in found],
    )
    return view


def _distinct(contexts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The contexts without repeats of the same tokens (the first, strongest, of each kept)."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for context in contexts:
        key = tuple(context["tokens"])
        if key not in seen:
            seen.add(key)
            out.append(context)
    return out


def token_features(lm: LM, folder: Path, prompt: Prompt, *, k: int = 5, chat: bool = False) -> dict[str, Any]:
    """Each token of ``prompt`` with its ``k`` strongest active latents (activation > 0), strongest first."""
    import torch

    if not 1 <= k <= 64:
        raise InvalidInputError(f"k={k}; give how many latents to list per token, 1 to 64.")
    dictionary = load_dictionary(lm, folder)
    site = dictionary.config.site
    enc = lm.encode(prompt, chat=chat)
    lm.check_length(len(enc))
    _, cache = lm.run_with_cache(enc, [site])
    with torch.no_grad():
        values, indices = dictionary.encode_topk(cache[site][0].float(), k)
    per_token = [
        [{"latent": int(i), "activation": float(v)} for v, i in zip(vs, ids, strict=True) if v > 0]
        for vs, ids in zip(values.tolist(), indices.tolist(), strict=True)
    ]
    return {
        "dictionary": dictionary_name(folder),
        "site": site,
        "model": lm.name,
        "tokens": enc.tokens,
        "features": per_token,
    }


def moved_features(
    store: Store, lm: LM | None, folder: Path, reference: str, current: str, *, alpha: float = 0.05,
    max_prompts: int = 100,
) -> dict[str, Any]:  # fmt: skip
    """The latents whose firing rate moved most between two windows, with links to their page and records."""
    from pellucid.service.drift import run_drift

    report = run_drift(
        store, reference, current, metrics=[], embeddings=(), features=folder, lm=lm, alpha=alpha,
        max_prompts=max_prompts,
    )  # fmt: skip
    result = next(r for r in report.results if r.detector == "feature_frequency")
    name = dictionary_name(folder)
    moved = [
        {**row, "page": f"#features/{name}/{row['latent']}", "records": f"{RECORDS_LINK}{name}:{row['latent']}"}
        for row in result.details["moved"]
    ]
    return {
        "dictionary": name,
        "reference": report.params["reference"],
        "current": report.params["current"],
        "feature": result.feature,
        "verdict": result.verdict,
        "drifted": result.drifted,
        "latents_tested": result.details["latents_tested"],
        "latents_moved": result.details["latents_moved"],
        "moved": moved,
    }
