"""Projector data: 2-D points with record ids and KMeans clusters that recover planted groups."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from pellucid.errors import InvalidInputError
from pellucid.monitor import RecordFilter, Store
from pellucid.monitor.projection import project_matrix, projection


@pytest.fixture()
def groups(store: Store, make):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 24)) * 6
    rows, truth, vectors = [], [], []
    for i in range(45):
        g = i % 3
        rows.append(make(prompt=f"prompt {i} of group {g}", tags=["x"] if g == 0 else []))
        truth.append(g)
        vectors.append(centres[g] + rng.normal(size=24))
    store.repo.insert_records(rows)
    store.repo.add_embeddings([(r.id, "prompt", "enc", v) for r, v in zip(rows, vectors, strict=True)])
    return rows, np.array(truth), np.array(vectors)


def test_pca_points_and_clusters(store: Store, groups) -> None:
    rows, truth, vectors = groups
    result = projection(store, method="pca", clusters=3)
    by_id = {r.id: i for i, r in enumerate(rows)}
    order = [by_id[i] for i in result.ids]
    assert sorted(order) == list(range(45))
    assert adjusted_rand_score(truth[order], result.clusters) == 1.0
    expected = PCA(n_components=2, random_state=0).fit(vectors[order].astype(np.float64))
    assert result.details["explained_variance"] == pytest.approx(expected.explained_variance_ratio_, rel=1e-4)
    data = result.to_dict()
    assert data["points"][0].keys() == {"id", "x", "y", "cluster", "text"}
    assert data["points"][0]["text"].startswith("prompt ")
    tagged = projection(store, RecordFilter(tag="x"), clusters=None)
    assert len(tagged.ids) == 15 and tagged.clusters is None


def test_errors_name_the_fix() -> None:
    matrix = np.random.default_rng(0).normal(size=(10, 4))
    with pytest.raises(InvalidInputError, match="Available: pca, umap"):
        project_matrix(matrix, method="tsne")
    with pytest.raises(InvalidInputError, match="between 1 and the number of points"):
        project_matrix(matrix, clusters=11)
    with pytest.raises(InvalidInputError, match="at least 3"):
        project_matrix(matrix[:2])


def test_umap_without_the_package_names_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed: import fails
    with pytest.raises(InvalidInputError, match=r"pip install 'pellucid\[umap\]'"):
        project_matrix(np.random.default_rng(0).normal(size=(10, 4)), method="umap")


@pytest.mark.skipif(importlib.util.find_spec("umap") is None, reason="umap-learn is not installed")
def test_umap_when_installed() -> None:
    xy, labels, _ = project_matrix(np.random.default_rng(0).normal(size=(30, 4)), method="umap", clusters=2)
    assert xy.shape == (30, 2) and labels.shape == (30,)


def test_identical_vectors_give_json_safe_output() -> None:
    xy, labels, details = project_matrix(np.ones((5, 4)), clusters=1)
    assert details["explained_variance"] == [None, None] and labels.tolist() == [0] * 5
    assert np.isfinite(xy).all()
