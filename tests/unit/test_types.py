import json
import math

import numpy as np
import pytest

from pellucid.errors import InvalidInputError
from pellucid.types import Explanation


def make(scores=None):
    scores = np.array([[0.5, -1.0, float("nan")], [2.0, 0.0, 1.0]]) if scores is None else scores
    return Explanation(
        scores=scores,
        axes=("target", "input"),
        labels={"target": [" Paris", "<total>"], "input": ["What", " is", " France"]},
        method="occlusion",
        model="tiny",
        params={"baseline": "pad"},
        meta={"forward_passes": 4, "label_info": {"input": {"segment": ["user", "user", "template"]}}},
    )


def test_json_round_trip_keeps_nan_and_interface_keys(tmp_path):
    ex = make()
    data = ex.to_dict()
    assert set(data) == {"kind", "method", "model", "axes", "labels", "scores", "signed", "params", "meta"}
    text = json.dumps(data)  # strict JSON: NaN written as null
    assert "NaN" not in text and data["scores"][0][2] is None
    back = Explanation.load(ex.save(tmp_path / "ex.json"))
    assert back.axes == ex.axes and back.labels == ex.labels and back.meta == ex.meta
    np.testing.assert_array_equal(back.scores, ex.scores)  # NaN compare equal positionally
    assert math.isnan(back.scores[0, 2])


def test_shape_and_label_mismatch_raise_clear_errors():
    with pytest.raises(InvalidInputError, match="2 dimensions but 1 axes"):
        Explanation(np.zeros((2, 2)), ("a",), {"a": ["x", "y"]}, "m", "tiny")
    with pytest.raises(InvalidInputError, match="has 3 scores but 2 labels"):
        Explanation(np.zeros((2, 3)), ("a", "b"), {"a": ["x", "y"], "b": ["p", "q"]}, "m", "tiny")


def test_dataframe_is_long_format_with_indices():
    df = make().to_dataframe()
    assert list(df.columns) == ["target_index", "target", "input_index", "input", "score"]
    assert len(df) == 6
    row = df[(df.target == "<total>") & (df.input == " France")].iloc[0]
    assert row.score == 1.0 and row.input_index == 2


def test_label_info_and_html_repr():
    ex = make()
    assert ex.label_info("input", "segment") == ["user", "user", "template"]
    assert ex.label_info("input", "word") is None
    html = ex._repr_html_()
    assert "<script>" in html and "occlusion" in html and "http" not in html.split("<script>")[0]
