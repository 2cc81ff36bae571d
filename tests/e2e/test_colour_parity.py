"""The workbench and Python colour the same scores alike, in a real browser.

An attribution of the tiny model is opened in the workbench (Inspect tab, "open a saved
Explanation") as it is, and rescaled to hit each branch of the shared rule (unsigned weights,
unsigned log-probabilities, unsigned scores on both sides of 0). Every shaded token's
background must be the colour :mod:`pellucid.render.colors` gives its score. The self-contained
HTML page (``explanation_page``) is checked the same way.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from pellucid import service
from pellucid.render.colors import make_scale
from pellucid.render.html import explanation_page

pytestmark = [pytest.mark.e2e]

PROMPT = "The Eiffel Tower is in the city of"


@pytest.fixture(scope="module")
def attribution(tiny_lm):
    return service.explain(tiny_lm, PROMPT, target=" Paris and Rome", method="occlusion", raw=True)


def _variants(ex):
    scores = ex.scores
    spread = float(np.nanmax(np.abs(scores))) or 1.0
    return {
        "signed": ex,
        "unsigned weights": dataclasses.replace(ex, scores=np.abs(scores), signed=False),
        "unsigned logprobs": dataclasses.replace(ex, scores=-np.abs(scores) - 0.5 * spread, signed=False),
        "unsigned both sides": dataclasses.replace(ex, scores=scores - np.nanmean(scores), signed=False),
    }


def _rgb(css: str) -> tuple[int, ...] | None:
    numbers = re.findall(r"\d+", css)
    return tuple(int(n) for n in numbers[:3]) if numbers else None


@pytest.mark.parametrize("name", ["signed", "unsigned weights", "unsigned logprobs", "unsigned both sides"])
def test_workbench_tokens_have_pythons_colours(page, attribution, tmp_path, name):
    ex = _variants(attribution)[name]
    path = ex.save(tmp_path / "ex.json")
    page.goto("/#inspect")
    page.set_input_files("#inspect-file", str(path))
    view = page.locator("#inspect-result .heatmap")
    view.wait_for()
    cells = view.locator(".tok").evaluate_all("els => els.map(e => [e.dataset.score, e.style.backgroundColor])")
    scale = make_scale(ex.scores[-1], ex.signed)  # the view opens on the last row ("Whole answer")
    shaded = [(float(score), _rgb(color)) for score, color in cells if score != ""]
    assert len(shaded) >= 5
    assert [color for _, color in shaded] == [scale.rgb(score) for score, _ in shaded]
    if name != "signed":
        assert len({color for _, color in shaded}) > 2  # the scores really spread over the scale


def test_the_html_page_has_pythons_colours(page, attribution):
    ex = _variants(attribution)["unsigned logprobs"]
    page.set_content(explanation_page(ex))
    tokens = page.locator(".pl-tok")
    tokens.first.wait_for()
    row = ex.scores[-1]
    scale = make_scale(row, ex.signed)
    colors = tokens.evaluate_all("els => els.map(e => e.style.backgroundColor)")
    expected = [scale.rgb(float(v)) for v in row]
    assert [_rgb(c) for c in colors] == expected
