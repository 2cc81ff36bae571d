"""The Compare view's generator picker (POST /api/counterfactuals) and the projector coloured by
version and by a metric, with a lasso that lists records to open."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.seed import seed

pytestmark = [pytest.mark.e2e]

CANVAS_COLOURS = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4)
        if (d[i + 3] > 150) seen.add(d[i] >> 4 << 8 | d[i + 1] >> 4 << 4 | d[i + 2] >> 4);
    return seen.size; }"""


@pytest.fixture(scope="module")
def seeded(server):
    return seed(server.store, seed=1)


def test_generated_edits_load_into_the_editor(page, server):
    page.goto("/#explain")
    page.select_option("#model-select", server.tiny)
    page.fill("#explain-prompt", "The movie was really awful and boring.")
    page.select_option("#explain-mode", "raw")
    page.fill("#explain-target", " negative")
    page.click("#explain-run")
    page.locator("#explain-result .target").first.wait_for()
    page.click("#cf-generators summary")
    page.wait_for_function("document.querySelectorAll('#cf-generator option').length > 3")
    page.select_option("#cf-generator", "typos")
    page.fill("#cf-p-n", "4")
    with page.expect_response("**/api/counterfactuals") as answered:
        page.click("#cf-generate")
    sent = answered.value.request.post_data_json
    assert sent["generator"] == "typos" and sent["generator_params"] == {"n": 4} and sent["target"] == " negative"
    variants = answered.value.json()["variants"]
    picks = page.locator("#cf-edits .edit-pick")
    picks.first.wait_for()
    assert picks.count() == len(variants) == 4
    assert page.locator("#cf-edits .edit-pick .diff ins").count() >= 1  # each typo is marked in its prompt
    picks.nth(1).click()
    assert page.input_value("#edited-prompt") == variants[1]["prompt"]
    assert picks.nth(1).get_attribute("aria-pressed") == "true"
    delta = page.locator("#compare-result .delta")
    assert float(delta.get_attribute("data-delta")) == pytest.approx(variants[1]["delta_logprob"])
    assert page.locator("#compare-result .compare-card").count() == 2
    # an error from the server shows its message
    page.fill("#cf-p-kinds", "sneezes")
    page.click("#cf-generate")
    error = page.locator("section.compare .status .error")
    error.wait_for()
    assert "typos kinds='sneezes'; choose from" in error.inner_text()


def test_projector_colours_by_version_and_metric_and_lassos(page, server, seeded):
    page.goto("/#monitor/projector")
    page.fill("#proj-clusters", "3")
    page.click("#proj-run")
    plot = page.locator("#projector-plot .scatter")
    plot.wait_for()
    options = page.locator("#proj-color option").all_inner_texts()
    assert options[:4] == ["cluster", "flag", "version", "model"]
    assert {"latency_ms", "perplexity", "completion_tokens"} <= set(options[4:])
    points = int(plot.get_attribute("data-points"))
    data = httpx.get(f"{server.url}/api/projection", params={"clusters": 3}, timeout=60).json()["points"]
    versions = {v: sum(p["model_version"] == v for p in data) for v in ("v1", "v2")}
    # by version: two categories with their counts, two colours on the canvas
    page.select_option("#proj-color", "model_version")
    page.locator("#projector-plot .scatter[data-color=model_version]").wait_for()
    legend = page.locator("#projector-plot .legend-cats span").all_inner_texts()
    assert legend == [f"version v1 ({versions['v1']})", f"version v2 ({versions['v2']})"]
    assert page.locator("#projector-plot canvas").evaluate(CANVAS_COLOURS) >= 2
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "projector_coloured_by_version.png"), full_page=True)
    # by a metric: a continuous scale whose ends are the metric's range
    page.select_option("#proj-color", "metric:perplexity")
    scale = page.locator("#projector-plot .legend[data-kind=continuous]")
    scale.wait_for()
    values = [float(v) for v in scale.locator(".legend-value").all_inner_texts()]
    perplexities = [p["metrics"]["perplexity"] for p in data if "perplexity" in p["metrics"]]
    assert values == pytest.approx([min(perplexities), max(perplexities)], abs=1e-3)
    assert scale.locator(".legend-title").inner_text() == "perplexity"
    # shift-drag a lasso around the whole plot: every point is listed; open one
    box = page.locator("#projector-plot canvas").bounding_box()
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    for x, y in [(box["width"] - 2, 2), (box["width"] - 2, box["height"] - 2), (2, box["height"] - 2), (2, 3)]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
    page.mouse.up()
    page.keyboard.up("Shift")
    heading = page.locator("#proj-selection h4")
    heading.wait_for()
    assert heading.inner_text().startswith(f"{points} records selected")
    first = page.locator("#proj-selection tbody tr").first
    record_id = first.get_attribute("data-id")
    first.locator("button:has-text('Open')").click()
    page.locator("#record-panel pre.text").first.wait_for()
    assert record_id[:8] in page.inner_text("#record-panel .record-head")


def test_projector_points_by_keyboard(page, server, seeded):
    page.goto("/#monitor/projector")
    page.fill("#proj-clusters", "3")
    page.click("#proj-run")
    canvas = page.locator("#projector-plot canvas")
    canvas.wait_for()
    data = httpx.get(f"{server.url}/api/projection", params={"clusters": 3}, timeout=60).json()["points"]
    canvas.focus()
    page.keyboard.press("ArrowRight")  # the first press lands on the point nearest the centre
    live = page.locator("#projector-plot .scatter-live")
    first = int(canvas.get_attribute("data-focused"))
    assert live.inner_text().startswith(f"Point {first + 1} of {len(data)}: ")
    assert live.get_attribute("aria-live") == "polite"
    moves = []
    for key in ("ArrowRight", "ArrowRight", "ArrowUp", "ArrowLeft"):
        before = int(canvas.get_attribute("data-focused"))
        page.keyboard.press(key)
        moves.append((key, before, int(canvas.get_attribute("data-focused"))))
    for key, before, after in moves:
        if after == before:
            continue  # nothing further that way
        dx, dy = data[after]["x"] - data[before]["x"], data[after]["y"] - data[before]["y"]
        along = {"ArrowRight": dx, "ArrowLeft": -dx, "ArrowUp": dy}[key]  # up on screen is +y in the data
        assert along > 0, f"{key} moved from {before} to {after}, against the direction"
    assert any(after != before for _, before, after in moves)
    focused = int(canvas.get_attribute("data-focused"))
    page.keyboard.press("Enter")
    page.locator(f"#record-panel[data-id='{data[focused]['id']}']").wait_for()
