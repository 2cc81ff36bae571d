"""The Data tab: a file opened and paged, the model run over selected rows, rows explained in bulk
with their aggregate attribution, counterfactuals in bulk, a slice of logged records, and refusals."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.seed import seed

pytestmark = [pytest.mark.e2e]

REVIEWS = ["a wonderful film", "a dull film", "wonderful acting", "dull and slow"] * 30  # 120 rows: two pages


@pytest.fixture()
def reviews(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": i % 2}) + "\n" for i, t in enumerate(REVIEWS)))
    return path


def _open(page, server, path) -> None:
    page.goto("/#data")
    page.select_option("#model-select", server.tiny)
    page.set_input_files("#data-file", str(path))
    page.click("#data-open")
    page.locator("#data-table tbody tr").first.wait_for()


def test_a_file_pages_sorts_filters_and_runs(page, server, reviews):
    _open(page, server, reviews)
    assert page.inner_text("#data-info").startswith("reviews.jsonl: rows 1–100 of 120")
    assert page.locator("#data-table tbody tr").count() == 100
    page.click("text=Next →")
    page.wait_for_function("document.querySelector('#data-info').textContent.includes('rows 101–120')")
    assert page.locator("#data-table tbody tr").count() == 20
    page.fill("#data-filter", "dull")
    assert page.locator("#data-table tbody tr").count() == 10
    page.click("#data-select-all")
    assert "10 selected" in page.inner_text("#data-count")
    page.click("text=Run model")
    page.wait_for_function("document.querySelector('#data-progress').textContent === '10 / 10 rows'", timeout=120_000)
    cells = page.locator("#data-table tbody tr").first.locator("td").all_inner_texts()
    headers = page.locator("#data-table thead th").all_inner_texts()
    prob = cells[headers.index("target prob ")] if "target prob " in headers else cells[headers.index("target prob")]
    assert 0 < float(prob) < 1
    # sorting by the target's probability, descending on the second click
    page.click("#data-table th[data-col=target_prob] button")
    page.click("#data-table th[data-col=target_prob] button")
    assert page.get_attribute("#data-table th[data-col=target_prob]", "aria-sort") == "descending"
    column = headers.index(next(h for h in headers if h.startswith("target prob")))
    probs = [float(r.locator("td").nth(column).inner_text()) for r in page.locator("#data-table tbody tr").all()]
    assert probs == sorted(probs, reverse=True)


def test_explain_in_bulk_shows_the_aggregate(page, server, reviews):
    _open(page, server, reviews)
    for key in (1, 2):  # rows 1 and 2: "a wonderful film" (label 0) and "a dull film" (label 1)
        page.locator(f"#data-table tbody tr[data-key$=':{key}'] input[type=checkbox]").check()
    page.select_option("#data-method", "occlusion")
    page.click("text=Explain selected")
    bars = page.locator("#data-aggregate .bar-row")
    bars.first.wait_for(timeout=120_000)
    assert "over 2 rows" in page.inner_text("#data-aggregate h3")
    labels = page.locator("#data-aggregate .bar-label").all_inner_texts()
    assert any(label.startswith("film (2)") for label in labels)  # in both rows
    assert any(label.startswith("wonderful (1)") for label in labels)
    assert page.locator("#data-table tbody tr[data-key$=':1'] td").last.inner_text() != ""


def test_counterfactuals_in_bulk(page, server, reviews):
    _open(page, server, reviews)
    page.locator("#data-table tbody tr[data-key$=':1'] input[type=checkbox]").check()
    page.locator("#data-generator option").first.wait_for(state="attached")
    page.select_option("#data-generator", "typos")
    page.click("text=Counterfactual selected")
    page.wait_for_function("document.querySelector('#data-progress').textContent === '1 / 1 rows'", timeout=120_000)
    result = page.locator("#data-table tbody tr[data-key$=':1'] td").last.inner_text()
    assert "edits, largest Δ log p" in result or result == "no edit applies"


def test_logged_records_and_refusals(page, server, tmp_path):
    ids = seed(server.store, n=60, seed=3)
    page.goto("/#data")
    page.fill("#data-window", "last:1d")
    page.fill("#data-rec-model", "synthetic-model")
    page.click("#data-records-open")
    page.locator("#data-table tbody tr").first.wait_for()
    expected = httpx.get(f"{server.url}/api/records", params={"model": "synthetic-model", "limit": 200}).json()["items"]
    recent = [r["id"] for r in expected if r["id"] in ids[-10:]]
    shown = page.locator("#data-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.key)")
    assert set(recent) <= set(shown) and "source=records" in page.url
    headers = page.locator("#data-table thead th").all_inner_texts()
    assert any(h.startswith("latency ms") for h in headers) and any(h.startswith("completion tokens") for h in headers)
    # refusals name the problem
    page.fill("#data-path", str(tmp_path / "missing.jsonl"))
    page.click("#data-open")
    assert "No data-set file" in page.locator("#data-load-status .error").inner_text()
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("title,score\nHello,3\n")
    page.fill("#data-path", str(wrong))
    page.click("#data-open")
    page.wait_for_function("document.querySelector('#data-load-status .error')?.textContent.includes('title')")
    assert "['score', 'title']" in page.locator("#data-load-status .error").inner_text()
