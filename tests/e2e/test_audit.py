"""The Audit tab in a real browser: a small audit of the tiny model runs with live progress, its
report and model card come out; a running audit is cancelled on the server from the page."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = [pytest.mark.e2e]


def _untick_all(page) -> None:
    for box_id in page.locator(".audit-pick:checked").evaluate_all("els => els.map(e => e.id)"):
        page.uncheck(f"#{box_id}")


def _choose(page, checks: list[str], model: str) -> None:
    page.goto("/#audit")
    page.locator("#audit-check-bias").wait_for()
    page.select_option("#audit-model", model)
    _untick_all(page)
    for name in checks:
        page.check(f"#audit-check-{name}")
    assert page.input_value("#audit-suite") == "custom"


def _options(page, check: str, values: dict[str, str]) -> None:
    page.locator(f".audit-check[data-check={check}] summary").click()
    for name, value in values.items():
        control = page.locator(f"#audit-{check}-{name}")
        if value in ("true", "false"):
            control.set_checked(value == "true")
        else:
            control.fill(value)


def test_run_an_audit_and_download_the_card(page, server):
    _choose(page, ["bias", "toxicity"], server.tiny)
    # long enough answers that the bias check runs across several progress polls (400 ms apart)
    _options(page, "bias", {"attributions": "false", "max_new_tokens": "120"})
    _options(page, "toxicity", {"limit": "3", "max_new_tokens": "6"})
    with page.expect_response("**/api/audit/jobs") as started:
        page.click("#audit-run")
    job = started.value.json()
    assert job["params"]["checks"] == ["bias", "toxicity"] and job["params"]["model"] == server.tiny
    assert job["params"]["options"]["toxicity"] == {"limit": 3, "max_new_tokens": 6}
    # live progress: the bar and the current check with its item count
    page.locator("#audit-current:has-text('bias —')").wait_for(timeout=60_000)
    assert page.locator("#audit-progress progress").count() == 1
    report = page.locator("#audit-report")
    report.wait_for(timeout=180_000)
    assert page.get_attribute("#audit-progress", "data-status") == "done"
    assert page.get_attribute("#audit-bar", "value") == "1"
    rows = page.locator("#audit-summary tbody tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.check)") == ["bias", "toxicity"]
    for status in rows.evaluate_all("rs => rs.map(r => r.dataset.status)"):
        assert status in ("pass", "fail", "inconclusive")  # 3 toxicity prompts rarely decide a 5 % threshold
    final = httpx.get(f"{server.url}/api/audit/jobs/{job['id']}").json()["report"]
    bias_score = page.inner_text("#audit-summary tr[data-check=bias] td:nth-child(3)")
    assert float(bias_score) == pytest.approx(final["checks"][0]["score"], abs=1e-4)
    # the full report is in the frame, and the model card downloads
    page.wait_for_function("document.querySelector('#audit-report-frame').srcdoc.includes('toxicity')")
    with page.expect_download() as info:
        page.click("#audit-card")
    assert info.value.suggested_filename == "README.md"
    card = Path(info.value.path()).read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["model-index"][0]["name"] == server.tiny
    assert "Counterfactual fairness" in card
    assert page.locator("#audit-history tbody tr").count() >= 1


def test_cancel_a_running_audit_from_the_page(page, server):
    _choose(page, ["bias", "toxicity"], server.tiny)
    # 14 templates with 120-token answers, then 10 attributed pairs: seconds, so the cancel lands inside bias
    _options(page, "bias", {"attributions": "true", "top_k": "10", "max_new_tokens": "120"})
    with page.expect_response("**/api/audit/jobs") as started:
        page.click("#audit-run")
    job_id = started.value.json()["id"]
    page.locator("#audit-current:has-text('bias —')").wait_for(timeout=60_000)
    with page.expect_request(lambda r: r.method == "DELETE" and r.url.endswith(f"/api/audit/jobs/{job_id}")):
        page.click("#audit-progress button:has-text('Cancel')")
    page.locator("#audit-progress[data-status=cancelled]").wait_for(timeout=60_000)
    assert "cancelled" in page.inner_text("#audit-status")
    assert page.inner_text("#audit-current").startswith("stopped in bias — ")
    job = httpx.get(f"{server.url}/api/audit/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["steps"] == []  # stopped inside the first check
    assert page.locator("#audit-report").count() == 0
    # a checked box is required, and the reason is shown
    _untick_all(page)
    page.click("#audit-run")
    assert "Tick at least one check" in page.inner_text("#audit-status .error")


def test_a_stored_audit_from_an_earlier_run_opens(page, server):
    from pellucid.audit.result import AuditReport, CheckResult

    report = AuditReport(
        model="an-earlier-model",
        checks=[CheckResult("toxicity", True, 0.01, 0.05, model="an-earlier-model", seconds=2.0)],
        seconds=2.0,
    )
    kept = server.store.reports.save_audit_report(report.to_dict())  # as a server before a restart left it
    page.goto("/#audit")
    row = page.locator("#audit-history tbody tr", has_text="an-earlier-model")
    row.wait_for()
    assert "stored" in row.inner_text()
    row.locator("button:has-text('Show')").click()
    page.locator("#audit-report").wait_for()
    assert page.get_attribute("#audit-progress", "data-status") == "done"
    summary = page.locator("#audit-summary tbody tr")
    assert summary.evaluate_all("rs => rs.map(r => [r.dataset.check, r.dataset.status])") == [["toxicity", "pass"]]
    page.wait_for_function("document.querySelector('#audit-report-frame').srcdoc.includes('an-earlier-model')")
    assert page.get_attribute("#audit-report", "data-job") == kept.id
    with page.expect_download() as info:
        page.click("#audit-card")
    front = yaml.safe_load(Path(info.value.path()).read_text().split("---")[1])
    assert front["model-index"][0]["name"] == "an-earlier-model"
