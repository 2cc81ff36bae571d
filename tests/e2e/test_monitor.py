"""The Monitor tab's views on seeded data: metric charts, a drift report with its verdict, an
alert rule that fires, and the projector opening a record."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.seed import seed

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def seeded(server):
    return seed(server.store)


def test_metric_charts(page, seeded):
    page.goto("/#monitor/metrics")
    page.select_option("#met-bucket", "86400")
    page.fill("#met-window", "last:14d")
    page.click("#monitor-body button[type=submit], form.filters button[type=submit]")
    charts = page.locator("#metric-charts .chart-card")
    charts.first.wait_for()
    assert charts.evaluate_all("els => els.map(e => e.dataset.metric)") == [
        "latency_ms",
        "completion_tokens",
        "perplexity",
        "feedback",
    ]
    # the charts of the default window may be drawn first: wait for the 14 daily buckets asked for
    page.wait_for_function("document.querySelectorAll('#metric-charts [data-metric=latency_ms] circle').length >= 10")
    latency = page.locator("#metric-charts [data-metric=latency_ms] svg path[fill=none]")
    assert latency.count() == 1
    # group by model version: one line per version
    page.select_option("#met-group", "model_version")
    page.click("form.filters button[type=submit]")
    page.wait_for_function(
        "document.querySelectorAll('#metric-charts [data-metric=latency_ms] svg path[fill=none]').length === 2"
    )
    assert page.locator("#metric-charts .error").count() == 0


def test_serving_figures_show_above_the_charts(page, server):
    import httpx

    body = {"model": server.tiny, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "temperature": 0}
    assert httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120).status_code == 200
    page.goto("/#monitor/metrics")
    row = page.locator("#serving-table tbody tr", has_text=server.tiny)
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == server.tiny and cells[2].endswith("/ 16") and cells[3].endswith(" ms") and int(cells[6]) >= 1


def test_drift_report_verdict(page, server, seeded):
    page.goto("/#monitor/drift")
    page.fill("#drift-ref", "version:v1")
    page.fill("#drift-cur", "version:v2")
    page.fill("#drift-name", "e2e drift")
    page.click("form.filters button[type=submit]")
    detail = page.locator("#drift-detail .card")
    detail.wait_for(timeout=90_000)
    assert "Drift detected" in detail.inner_text()
    assert detail.locator(".badge.bad").count() >= 2  # the report and at least one check
    assert "e2e drift" in page.inner_text("#drift-list")
    # beside the table: both windows' distributions, one overlaid histogram per metric
    latency = page.locator("#drift-dists svg[data-metric=latency_ms]")
    latency.wait_for()
    assert latency.locator("rect.ref-bar").count() == 20 and latency.locator("path.cur-step").count() == 1
    text = latency.text_content()
    query = {"model_version": "v1", "limit": 1, "with_total": True}  # every seeded record has a latency
    n_ref = httpx.get(f"{server.url}/api/records", params=query).json()["total"]
    assert "share of window" in text and f"reference (n={n_ref})" in text
    assert page.locator("#drift-dists svg[data-metric=completion_tokens]").count() == 1


def test_alert_rule_fires(page, seeded):
    page.goto("/#monitor/alerts")
    page.fill("#alert-name", "slow answers")
    page.fill("#alert-condition", "mean(latency_ms) > 500 over 1d")
    page.click("form.filters button[type=submit]")
    page.locator("#alert-rules td:has-text('slow answers')").wait_for()
    page.click("text=Check now")
    page.locator("#alert-events td:has-text('mean(latency_ms) = ')").wait_for()
    # a bad condition shows the server's reason
    page.fill("#alert-name", "broken")
    page.fill("#alert-condition", "mean(latency_ms) >>> 5")
    page.click("form.filters button[type=submit]")
    assert "condition" in page.locator(".status .error").inner_text().lower()


def test_projector_opens_a_record(page, seeded):
    page.goto("/#monitor/projector")
    page.fill("#proj-clusters", "3")
    page.click("#proj-run")
    plot = page.locator("#projector-plot .scatter")
    plot.wait_for()
    assert int(plot.get_attribute("data-points")) >= len(seeded)
    assert page.locator("#proj-color option").all_inner_texts()[:4] == ["cluster", "flag", "version", "model"]
    assert len(page.locator(".legend-cats span").all_inner_texts()) == 3
    # find a drawn point in the canvas pixels and click it: the record opens beside the plot
    xy = page.locator("#projector-plot canvas").evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  const r = window.devicePixelRatio || 1;
                  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 150) {
                      const p = i / 4; return [(p % c.width) / r + 1, Math.floor(p / c.width) / r + 1]; }
                  return null; }"""
    )
    assert xy is not None
    page.locator("#projector-plot canvas").click(position={"x": xy[0], "y": xy[1]})
    page.locator("#record-panel pre.text").first.wait_for()
    assert "Question" in page.locator("#record-panel pre.text").first.inner_text()


def test_records_filter_by_version_and_flag(page, seeded, server):
    from datetime import UTC, datetime, timedelta

    from pellucid.monitor import NewRecord

    old = datetime.now(UTC) - timedelta(days=30)  # outside every window the other views use
    server.store.repo.insert_records(
        [
            NewRecord(
                prompt=f"Bonjour {i}",
                response="Hello",
                model="filter-model",
                model_version="v9",
                flags={"language_mismatch": "prompt looks fr, response looks en"} if i < 2 else {},
                created_at=old + timedelta(minutes=i),
            )
            for i in range(3)
        ]  # fmt: skip
    )
    page.goto("/#monitor/records")
    page.fill("#rec-version", "v9")
    page.click("#rec-apply")
    page.wait_for_function("document.querySelector('#rec-info').textContent.includes('of 3')")
    page.fill("#rec-flag", "language_mismatch")
    page.click("#rec-apply")
    page.wait_for_function("document.querySelector('#rec-info').textContent.includes('of 2')")
    assert all("Bonjour" in t for t in page.locator(".records tbody tr").all_inner_texts())
