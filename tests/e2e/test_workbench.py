"""The workbench in a real browser: explain on SmolLM2, inspect heads, monitor records, errors.

Each test leaves a full-page screenshot in tests/e2e/artifacts/.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _explain_form(page, prompt: str, target: str = "", method: str = "occlusion") -> None:
    page.goto("/#explain")
    page.fill("#explain-prompt", prompt)
    page.fill("#explain-target", target)
    page.select_option("#explain-method", method)
    page.click("#explain-run")


def test_explain_france_on_smollm(page, server):
    _explain_form(page, "What is the capital of France?", " Paris")
    top = page.locator("#explain-result .top-features li").first
    top.wait_for()
    assert top.get_attribute("data-token") == "France"
    assert "Paris" in page.inner_text("#answer-text")
    # the shaded input: user tokens carry scores, the target bar has the token and the whole answer
    assert page.locator("#explain-result .tok[data-score]:not([data-score=''])").count() >= 6
    targets = page.locator("#explain-result .target")
    assert targets.count() == 2 and targets.nth(1).inner_text() == "Whole answer"
    # the legend states the scale; the header states the method
    assert page.locator("#explain-result .legend-bar").count() == 1
    assert page.locator("#explain-result .heatmap").get_attribute("data-method") == "occlusion"
    # exports: the Explanation's JSON, and a self-contained HTML page with the shaded text and the JSON
    with page.expect_download() as info:
        page.click("#explain-result button:has-text('Export JSON')")
    data = json.loads(Path(info.value.path()).read_text())
    assert data["axes"] == ["target", "input"] and data["labels"]["target"][0] == " Paris"
    with page.expect_download() as info:
        page.click("#explain-result button:has-text('Export HTML')")
    html = Path(info.value.path()).read_text()
    assert 'id="explanation"' in html and "France" in html and "<script src" not in html
    assert "background: rgb(" in html  # the shading is inline, no stylesheet link needed


def test_explain_own_answer_then_compare_an_edit(page, server):
    _explain_form(page, "What is the capital of France?")
    page.locator("#explain-result .target").first.wait_for()
    answer = page.inner_text("#answer-text")
    assert "Paris" in answer
    # click one generated token: the shading follows it
    tokens = page.locator("#explain-result .target")
    assert tokens.last.inner_text() == "Whole answer" and tokens.last.get_attribute("aria-selected") == "true"
    scores = "els => els.map(e => e.dataset.score)"
    whole = page.locator("#explain-result .tok").evaluate_all(scores)
    paris = [i for i in range(tokens.count()) if tokens.nth(i).inner_text().strip() == "Paris"]
    assert paris, [tokens.nth(i).inner_text() for i in range(tokens.count())]
    tokens.nth(paris[0]).click()
    assert tokens.nth(paris[0]).get_attribute("aria-selected") == "true"
    assert "attribution to Paris" in page.inner_text("#explain-result .legend")
    assert page.locator("#explain-result .tok").evaluate_all(scores) != whole
    # edit the prompt in place and compare (one POST /api/counterfactuals)
    page.fill("#edited-prompt", "What is the capital of Italy?")
    with page.expect_response("**/api/counterfactuals") as answered:
        page.click("text=Compare")
    sent = answered.value.request.post_data_json
    assert sent["edited"] == "What is the capital of Italy?" and sent["target"].strip() == answer.strip()
    delta = page.locator("#compare-result .delta")
    delta.wait_for()
    shown = float(delta.get_attribute("data-delta"))
    assert shown < -1  # the original answer got much less likely
    assert answered.value.json()["variants"][0]["delta_logprob"] == pytest.approx(shown)
    assert page.locator("#compare-result .diff ins").inner_text().strip() == "Italy"
    assert page.locator("#compare-result .diff del").inner_text().strip() == "France"
    assert "What is the capital of" in page.inner_text("#compare-result .diff")


def test_method_form_comes_from_the_method_description(page, server):
    page.goto("/#explain")
    methods = httpx.get(f"{server.url}/api/methods").json()
    ig = next(m for m in methods if m["name"] == "integrated_gradients")
    page.select_option("#explain-method", "integrated_gradients")
    for param in ig["params"]:
        assert page.locator(f"#explain-p-{param['name']}").count() == 1
    assert page.locator("#explain-p-rule option").all_inner_texts() == ig["params"][2]["choices"]
    # a bad value is refused in the browser with the reason
    page.fill("#explain-p-steps", "1")
    page.click("#explain-run")
    assert "steps must be ≥ 2" in page.inner_text("#explain-status .error")


def test_inspect_head_grid_opens_a_head(page, server):
    page.goto("/#inspect")
    page.select_option("#model-select", server.tiny)
    page.select_option("#inspect-verb", "head_summary")
    page.click("#inspect-run")
    grid = page.locator("#inspect-result .grid")
    grid.wait_for()
    assert grid.get_attribute("data-axes") == "layer,head"
    rows, cols = int(grid.get_attribute("data-rows")), int(grid.get_attribute("data-cols"))
    canvas = grid.locator("canvas")
    box = canvas.bounding_box()
    # click the last cell (bottom-right): the head's query × key map opens below
    canvas.click(position={"x": box["width"] - 6, "y": box["height"] - 6})
    drill = page.locator("#inspect-drill .heatmap")
    drill.wait_for()
    assert drill.get_attribute("data-axes") == "head,query,key"
    assert f"layer {rows - 1}, head {cols - 1}" in page.inner_text("#inspect-drill .hm-title")
    # keyboard: focus the grid, move and select with Enter
    canvas.focus()
    for key in ["ArrowUp"] * (rows - 1) + ["ArrowLeft"] * (cols - 1) + ["Enter"]:
        page.keyboard.press(key)
    page.wait_for_function("document.querySelector('#inspect-drill .hm-title').textContent.includes('layer 0, head 0')")


def test_errors_show_the_server_message_and_jobs_cancel(page, server):
    page.goto("/#inspect")
    page.select_option("#model-select", server.tiny)
    page.select_option("#inspect-verb", "trace")
    page.fill("#inspect-trace-subject", "Big Ben")
    page.click("#inspect-run")
    error = page.locator("#inspect-status .error")
    error.wait_for()
    assert "Big Ben" in error.inner_text()
    # a request that never answers: the spinner shows the elapsed time and Cancel aborts it
    page.route("**/api/inspect/logit_lens", lambda route: None)
    page.select_option("#inspect-verb", "logit_lens")
    page.click("#inspect-run")
    page.locator("#inspect-status .elapsed").wait_for()
    page.click("#inspect-status button:has-text('Cancel')")
    page.wait_for_function("document.querySelector('#inspect-status').textContent.includes('cancelled')")


def test_monitor_record_explain_this(page, server):
    res = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={
            "model": server.tiny,
            "messages": [{"role": "user", "content": "Tell me about zebra crossings"}],
            "max_tokens": 5,
        },
        headers={"X-Pellucid-Tags": "e2e"},
        timeout=60,
    )
    record_id = res.headers["X-Pellucid-Record-Id"]
    server.flush()
    page.goto("/#monitor/records")
    page.fill("#rec-q", "zebra crossings")
    page.fill("#rec-tag", "e2e")
    page.click("#rec-apply")
    row = page.locator(f"#records-table tr[data-id='{record_id}']")
    row.wait_for()
    page.wait_for_function("document.querySelectorAll('#records-table tbody tr').length === 1")  # filtered
    row.click()
    panel = page.locator("#record-panel")
    assert "zebra crossings" in panel.locator("pre.text").first.inner_text()
    panel.locator("button:has-text('▲ Good')").click()
    page.wait_for_function("document.querySelector('#record-panel').textContent.includes('thumbs_up')")
    panel.locator("button:has-text('Explain this')").click()
    view = page.locator("#record-explanation .token-view")
    view.wait_for()
    assert page.locator("#record-explanation .heatmap").get_attribute("data-axes") == "target,input"
    assert page.locator("#record-explanation .tok[data-score]:not([data-score=''])").count() >= 3
