"""One heat-map component draws every kind of Explanation from its axes and labels alone.

Explanations of each shape are computed on the tiny model, saved as JSON, and opened in the
Inspect tab's "open a saved Explanation" field, so no method-specific request path is involved.
"""

from __future__ import annotations

import json
import math

import pytest

import pellucid.inspect as pi
from pellucid import service

pytestmark = [pytest.mark.e2e]

PROMPT = "The Eiffel Tower is in the city of"


def _kinds(lm):
    return {
        "attribution": service.explain(lm, PROMPT, target=" Paris and Rome", method="occlusion", raw=True),
        "logit_lens": pi.logit_lens(lm, PROMPT),
        "head_summary": pi.head_summary(lm, PROMPT),
        "patching": pi.patch(lm, PROMPT, "The Colosseum is in the city of", target=" Paris", align=True),
        "attention": pi.attention(lm, PROMPT, layers=[0, 1]),
        "neurons": pi.top_neurons(lm, PROMPT, k=6),
    }


@pytest.fixture(scope="module")
def saved(tiny_lm, tmp_path_factory):
    folder = tmp_path_factory.mktemp("explanations")
    return {name: (ex, ex.save(folder / f"{name}.json")) for name, ex in _kinds(tiny_lm).items()}


def _js_num(v: float) -> str:
    """What the page prints for a score (lib/format.ts ``num(v, 4)``)."""
    if math.isnan(v):
        return "not computed"
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        mantissa, exp = f"{v:.2e}".split("e")
        return f"{mantissa}e{int(exp):+d}"
    text = repr(round(float(v), 4))
    return text[:-2] if text.endswith(".0") else text


def _open(page, path):
    page.goto("/#inspect")
    page.set_input_files("#inspect-file", str(path))
    view = page.locator("#inspect-result .heatmap")
    view.wait_for()
    return view


def test_target_input_is_token_shading(page, saved):
    ex, path = saved["attribution"]
    view = _open(page, path)
    assert view.get_attribute("data-axes") == "target,input"
    targets = view.locator(".target").all_inner_texts()
    assert len(targets) == len(ex.labels["target"]) and targets[-1] == "Whole answer"
    shaded = view.locator(".tok").evaluate_all("els => els.map(e => e.dataset.score)")
    row = ex.scores[-1]
    assert [float(v) for v in shaded] == pytest.approx([v for v in row if not math.isnan(v)], rel=1e-6)
    view.locator(".target").first.click()
    first = view.locator(".tok").evaluate_all("els => els.map(e => Number(e.dataset.score))")
    assert first == pytest.approx([v for v in ex.scores[0] if not math.isnan(v)], rel=1e-6)


@pytest.mark.parametrize("name", ["logit_lens", "head_summary", "patching"])
def test_two_axes_are_a_grid(page, saved, name):
    ex, path = saved[name]
    view = _open(page, path)
    grid = view.locator(".grid")
    assert grid.get_attribute("data-axes") == ",".join(ex.axes)
    assert int(grid.get_attribute("data-rows")) == len(ex.labels[ex.axes[0]])
    assert int(grid.get_attribute("data-cols")) == len(ex.labels[ex.axes[1]])
    assert view.locator(".legend-bar").count() == 1
    # hovering a cell shows its labels, score and the details found in meta
    canvas = grid.locator("canvas")
    box = canvas.bounding_box()
    canvas.hover(position={"x": box["width"] - 4, "y": box["height"] - 4})
    tip = grid.locator(".tooltip").inner_text()
    last_row, last_col = ex.labels[ex.axes[0]][-1], ex.labels[ex.axes[1]][-1]
    assert f"{ex.axes[0]} {last_row} · {ex.axes[1]} {json.dumps(last_col)}" in tip
    assert f"score: {_js_num(ex.scores[-1, -1])}" in tip
    if name == "logit_lens":  # the top-k per cell (meta) can fill the cells: the logit-lens table
        assert "top_k" in view.locator("select").first.inner_text()
        assert "top_k:" in tip


def test_three_axes_have_a_selector_and_small_multiples(page, saved):
    ex, path = saved["attention"]
    view = _open(page, path)
    heads = ex.labels["head"]
    select = view.locator("select[aria-label='Choose head']")
    assert select.locator("option").count() == len(heads)
    select.select_option(label=f"head {heads[3]}")
    assert view.locator(".grid").count() == 1
    view.locator("select[aria-label='View']").select_option("many")
    assert view.locator(".multiple .grid").count() == len(heads)
    view.locator(".multiple figcaption button").nth(2).click()
    assert select.input_value() == "2" and view.locator(".grid").count() == 1


def test_one_axis_is_bars(page, saved):
    ex, path = saved["neurons"]
    view = _open(page, path)
    bars = view.locator(".bar-row")
    assert bars.count() == len(ex.labels[ex.axes[0]])
    assert bars.first.locator(".bar-label").inner_text() == ex.labels[ex.axes[0]][0]


def test_a_file_that_is_not_an_explanation_is_refused(page, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    page.goto("/#inspect")
    page.set_input_files("#inspect-file", str(bad))
    assert "not an Explanation" in page.locator("#inspect-status .error").inner_text()
