"""Inspect: per-layer results as line charts with axis titles — the logit lens's rank of the target
per layer (the same ranks the API answers) and a probe's accuracy per layer."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = [pytest.mark.e2e]


def _dots(page) -> list[str]:
    return page.locator("#layer-chart circle title").evaluate_all("ts => ts.map(t => t.textContent)")


def test_logit_lens_rank_per_layer(page, server):
    page.goto("/#inspect")
    page.select_option("#model-select", server.tiny)
    page.select_option("#inspect-verb", "logit_lens")
    page.fill("#inspect-logit_lens-prompt", "The capital of France is")
    page.fill("#inspect-logit_lens-target", " Paris")
    page.click("#inspect-run")
    chart = page.locator("#layer-chart svg")
    chart.wait_for()
    text = chart.text_content()
    assert "rank (1 = top)" in text and "layer" in text and "Paris" in text
    body = {"prompt": "The capital of France is", "target": " Paris", "score": "rank", "model": server.tiny, "top_k": 1}
    lens = httpx.post(f"{server.url}/api/inspect/logit_lens", json=body, timeout=120).json()
    ranks = [row[-1] for row in lens["scores"]]
    dots = _dots(page)
    assert len(dots) == len(ranks) == len(lens["labels"]["layer"])
    assert [float(d.rsplit(": ", 1)[1]) for d in dots] == ranks


def test_probe_accuracy_per_layer(page):
    ex = {
        "kind": "probe",
        "method": "linear_probe",
        "axes": ["layer", "metric"],
        "labels": {"layer": ["0", "1", "2"], "metric": ["accuracy", "control", "selectivity"]},
        "scores": [[0.5, 0.5, 0.0], [0.75, 0.5, 0.25], [1.0, 0.5, 0.5]],
        "signed": False,
        "model": "m",
        "params": {},
        "meta": {},
    }
    page.goto("/#inspect")
    page.set_input_files(
        "#inspect-file",
        files=[{"name": "probe.json", "mimeType": "application/json", "buffer": json.dumps(ex).encode()}],
    )
    chart = page.locator("#layer-chart svg")
    chart.wait_for()
    assert "accuracy (held out)" in chart.text_content() and "layer" in chart.text_content()
    assert chart.locator("path[data-series]").evaluate_all("ps => ps.map(p => p.dataset.series)") == [
        "accuracy",
        "control",
        "selectivity",
    ]
    assert _dots(page)[:3] == ["accuracy · layer 0: 0.5", "accuracy · layer 1: 0.75", "accuracy · layer 2: 1"]
