"""Probes: scikit-learn estimator API, save/load, data formats, control task, clear errors."""

import json

import numpy as np
import pytest
from sklearn.base import clone

from pellucid.errors import InvalidInputError
from pellucid.inspect import LabelledData, LinearProbe, control_labels, fit_probe, load_labelled, probe
from tests.inspect.conftest import assert_intact

CONLLU = """# text = The dog runs.
1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_
2\tdog\tdog\tNOUN\tNN\t_\t3\tnsubj\t_\t_
3\truns\trun\tVERB\tVBZ\t_\t0\troot\t_\tSpaceAfter=No
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# text = A cat sleeps.
1\tA\ta\tDET\tDT\t_\t2\tdet\t_\t_
2\tcat\tcat\tNOUN\tNN\t_\t3\tnsubj\t_\t_
3\tsleeps\tsleep\tVERB\tVBZ\t_\t0\troot\t_\tSpaceAfter=No
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

"""


def _blobs(n=120, d=8, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["neg", "pos"] * (n // 2))
    X = rng.normal(size=(n, d)) * 3 + 5
    X[:, 0] += np.where(y == "pos", 10.0, -10.0)
    return X, y


def test_linear_probe_follows_the_estimator_api(tmp_path):
    X, y = _blobs()
    est = LinearProbe(C=1.0)
    assert est.get_params() == {"C": 1.0, "max_iter": 100, "standardize": True, "random_state": 0}
    assert not hasattr(est, "coef_")  # nothing learned in __init__
    fitted = clone(est).fit(X, y)
    assert fitted.score(X, y) > 0.95 and set(fitted.predict(X)) == {"neg", "pos"}
    assert {"coef_", "intercept_", "classes_", "mean_", "scale_", "n_features_in_"} <= set(vars(fitted))
    np.testing.assert_allclose(fitted.predict_proba(X).sum(1), 1.0)
    direction = fitted.direction("pos")
    assert direction[0] > 0.8 and np.argmax(np.abs(direction)) == 0 and np.linalg.norm(direction) == pytest.approx(1.0)
    np.testing.assert_allclose(fitted.direction("neg"), -direction)

    path = fitted.save(tmp_path / "probe.npz", layer=3)
    loaded = LinearProbe.load(path)
    np.testing.assert_allclose(loaded.decision_function(X), fitted.decision_function(X))
    assert loaded.get_params() == fitted.get_params() and loaded.info_ == {"layer": 3}
    assert list(loaded.classes_) == ["neg", "pos"]


def test_multiclass_probe_and_errors():
    rng = np.random.default_rng(1)
    y = np.repeat(["a", "b", "c"], 30)
    X = rng.normal(size=(90, 5)) + np.eye(3, 5)[np.repeat([0, 1, 2], 30)] * 6
    fitted = LinearProbe().fit(X, y)
    assert fitted.score(X, y) > 0.9 and fitted.decision_function(X).shape == (90, 3)
    with pytest.raises(InvalidInputError, match="single class \\('a', 4 examples\\)"):
        LinearProbe().fit(X[:4], ["a"] * 4)
    with pytest.raises(InvalidInputError, match="not fitted"):
        LinearProbe().predict(X)
    with pytest.raises(InvalidInputError, match=r"shape \[n, 5\]"):
        fitted.predict(X[:, :3])
    with pytest.raises(InvalidInputError, match="Unknown probe class 'z'"):
        fitted.direction("z")


def test_data_formats(tmp_path):
    (tmp_path / "pos.conllu").write_text(CONLLU)
    pos = load_labelled(tmp_path / "pos.conllu")
    assert pos.level == "token" and pos.texts == ["The dog runs.", "A cat sleeps."]
    assert pos.labels[0] == ["DET", "NOUN", "VERB", "PUNCT"] and pos.spans[0][3] == (12, 13)
    assert load_labelled(tmp_path / "pos.conllu", label_column="xpos").labels[1][1] == "NN"

    (tmp_path / "s.csv").write_text("sentence,label\ngood film,1\nbad film,0\n")
    (tmp_path / "s.jsonl").write_text(
        json.dumps({"text": "good", "sentiment": "pos"})
        + "\n\n"
        + json.dumps({"text": "bad", "sentiment": "neg"})
        + "\n"
    )
    (tmp_path / "s.tsv").write_text("label\tcontent\n1\tfine\n0\tawful\n")
    assert load_labelled(tmp_path / "s.csv").labels == ["1", "0"]
    assert load_labelled(tmp_path / "s.jsonl").texts == ["good", "bad"]
    assert load_labelled(tmp_path / "s.tsv").texts == ["fine", "awful"]
    assert load_labelled(tmp_path / "s.csv", limit=1, seed=0).level == "sentence"
    with pytest.raises(InvalidInputError, match="no column 'review'"):
        load_labelled(tmp_path / "s.csv", text_column="review")
    (tmp_path / "nolabel.csv").write_text("text,score\na,1\n")
    with pytest.raises(InvalidInputError, match="no label column"):
        load_labelled(tmp_path / "nolabel.csv")
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_labelled(tmp_path / "missing.csv")
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(InvalidInputError, match="Unsupported data format"):
        load_labelled(tmp_path / "x.parquet")


def test_control_task_gives_each_word_type_one_label():
    data = LabelledData(
        ["The dog", "the cat", "A dog"],
        [["DET", "NOUN"], ["DET", "NOUN"], ["DET", "NOUN"]],
        "token",
        spans=[[(0, 3), (4, 7)]] * 3,
        words=[["The", "dog"], ["the", "cat"], ["A", "dog"]],
    )
    labels = control_labels(data, seed=3)
    assert labels[0] == labels[2] and labels[1] == labels[5]  # "the"/"The" and "dog" keep their label
    assert labels == control_labels(data, seed=3) and set(labels) <= {"DET", "NOUN"}


def test_probe_on_token_and_sentence_data(tiny_lm, tmp_path):
    (tmp_path / "pos.conllu").write_text(CONLLU * 3)
    ex = probe(tiny_lm, tmp_path / "pos.conllu", cv=2)
    assert ex.axes == ("layer", "metric") and ex.labels["metric"] == ["accuracy", "control", "selectivity"]
    assert ex.scores.shape == (tiny_lm.n_layers, 3)
    np.testing.assert_allclose(ex.scores[:, 2], ex.scores[:, 0] - ex.scores[:, 1])
    assert ex.meta["n_examples"] == 24 and ex.meta["majority_baseline"] == 0.25

    rows = [f"{'good' if i % 2 else 'bad'} film number {i},{i % 2}" for i in range(20)]
    (tmp_path / "s.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    sent = probe(tiny_lm, tmp_path / "s.csv", layers=[0, 2], cv=2, control=False)
    assert sent.scores.shape == (2, 1) and sent.meta["level"] == "sentence"
    fitted = fit_probe(tiny_lm, tmp_path / "s.csv", layer=-1)
    assert fitted.info_["layer"] == tiny_lm.n_layers - 1 and fitted.n_features_in_ == tiny_lm.d_model
    assert_intact(tiny_lm)


def test_one_class_data_set_is_a_clear_error(tiny_lm, tmp_path):
    (tmp_path / "one.csv").write_text("text,label\na good film,1\nanother good film,1\n")
    with pytest.raises(InvalidInputError, match="single class \\('1', 2 examples\\).*at least two classes"):
        probe(tiny_lm, tmp_path / "one.csv")
    with pytest.raises(InvalidInputError, match="cv=1"):
        probe(tiny_lm, tmp_path / "one.csv", cv=1)
