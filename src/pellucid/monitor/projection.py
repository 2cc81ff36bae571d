"""The embedding projector's data: stored vectors reduced to 2-D points, with clusters.

    points = projection(store, RecordFilter(model_version="v2"), method="pca", clusters=8)
    points.to_dict()   # {"points": [{"id", "x", "y", "cluster", "text"}], "explained_variance": ...}

With ``with_fields=True`` each point also carries what a view can colour it by: ``model``,
``model_version``, ``flags`` (the names of its data-quality flags) and ``metrics`` (latency, token
counts and every stored metric such as perplexity or toxicity; missing values are left out).

- ``pca`` (scikit-learn ``PCA(n_components=2)``): a linear view; the axes are the two directions of
  largest variance and ``explained_variance`` says how much of the spread they keep. Fast and
  deterministic.
- ``umap`` (``umap.UMAP``, optional package ``umap-learn``): a non-linear map that keeps
  neighbourhoods — clusters of similar prompts separate better, distances between clusters mean
  less.

Clusters are found by KMeans (``n_init=10``) in the *full* embedding space, not in the 2-D view,
so colours show real groups rather than artefacts of the projection.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import numpy as np

from pellucid.errors import InvalidInputError
from pellucid.monitor.records import RecordFilter

METHODS = ("pca", "umap")


@dataclass(frozen=True)
class Projection:
    """2-D points, one per record, with cluster labels and provenance."""

    ids: list[str]
    xy: np.ndarray
    clusters: np.ndarray | None
    method: str
    field: str
    details: dict[str, Any] = dc_field(default_factory=dict)
    texts: list[str] = dc_field(default_factory=list)
    fields: list[dict[str, Any]] = dc_field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        points = []
        for i, rid in enumerate(self.ids):
            point: dict[str, Any] = {"id": rid, "x": float(self.xy[i, 0]), "y": float(self.xy[i, 1])}
            point["cluster"] = None if self.clusters is None else int(self.clusters[i])
            if self.texts:
                point["text"] = self.texts[i]
            if self.fields:
                point.update(self.fields[i])
            points.append(point)
        return {"method": self.method, "field": self.field, "points": points, **self.details}


def _reduce(matrix: np.ndarray, method: str, random_state: int) -> tuple[np.ndarray, dict[str, Any]]:
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=random_state)
        with warnings.catch_warnings():  # identical vectors: sklearn divides 0 by 0 (handled below)
            warnings.simplefilter("ignore", RuntimeWarning)
            xy = pca.fit_transform(matrix)
        # identical vectors have no variance to explain: the ratio is 0/0, reported as None
        ratios = [float(v) if np.isfinite(v) else None for v in pca.explained_variance_ratio_]
        return xy, {"explained_variance": ratios}
    try:
        with warnings.catch_warnings():  # "Tensorflow not installed; ParametricUMAP will be unavailable"
            warnings.simplefilter("ignore", ImportWarning)
            import umap  # type: ignore[import-not-found]
    except ImportError:
        raise InvalidInputError(
            "method='umap' needs the optional package umap-learn, which is not installed: "
            "pip install 'pellucid[umap]' (or umap-learn), or use method='pca'."
        ) from None
    neighbours = min(15, matrix.shape[0] - 1)
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=random_state)
    with warnings.catch_warnings():  # a seed makes UMAP single-threaded, and it says so every time
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        xy = reducer.fit_transform(matrix)
    return np.asarray(xy), {"n_neighbors": neighbours}


def project_matrix(
    matrix: np.ndarray, *, method: str = "pca", clusters: int | None = 8, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """``(xy [n, 2], cluster labels [n] or None, details)`` for an ``[n, dim]`` matrix."""
    if method not in METHODS:
        raise InvalidInputError(f"Unknown projection method {method!r}. Available: {', '.join(METHODS)}.")
    n = matrix.shape[0]
    if n < 3:
        raise InvalidInputError(
            f"Only {n} embedded record(s) match; a projection needs at least 3 (run `pellucid monitor enrich`)."
        )
    if clusters is not None and not 1 <= clusters <= n:
        raise InvalidInputError(f"clusters must be between 1 and the number of points ({n}), got {clusters}.")
    xy, details = _reduce(matrix.astype(np.float64), method, random_state)
    labels = None
    if clusters is not None:
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=clusters, n_init=10, random_state=random_state).fit(matrix)
        labels = km.labels_.astype(int)
        details["inertia"] = float(km.inertia_)
    details["clusters"] = clusters
    return xy, labels, details


def projection(
    store: Any,
    filter: RecordFilter | None = None,
    *,
    method: str = "pca",
    clusters: int | None = 8,
    field: str = "prompt",
    encoder: str | None = None,
    limit: int = 5000,
    with_text: bool = True,
    with_fields: bool = False,
    random_state: int = 0,
) -> Projection:
    """Project the stored ``field`` embeddings of the filtered records (newest ``limit``);
    ``with_fields`` adds each record's model, version, flags and metrics to its point."""
    ids, matrix = store.repo.get_embeddings(field, model=encoder, filter=filter)
    if len(ids) > limit:
        ids, matrix = ids[-limit:], matrix[-limit:]
    xy, labels, details = project_matrix(matrix, method=method, clusters=clusters, random_state=random_state)
    texts: list[str] = []
    if with_text:
        by_id: dict[str, str] = {}
        for start in range(0, len(ids), 1000):
            by_id.update(store.analytics.texts_of(ids[start : start + 1000], field))
        texts = [by_id.get(rid, "")[:200] for rid in ids]
    fields = _point_fields(store, ids) if with_fields else []
    return Projection(ids, xy, labels, method, field, details, texts, fields)


def _point_fields(store: Any, ids: list[str]) -> list[dict[str, Any]]:
    from pellucid.monitor.enrich import MARKER

    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 1000):
        found.update(store.analytics.point_fields(ids[start : start + 1000], skip_metrics=[MARKER]))
    empty: dict[str, Any] = {"model": None, "model_version": None, "flags": [], "metrics": {}}
    return [found.get(rid, empty) for rid in ids]
