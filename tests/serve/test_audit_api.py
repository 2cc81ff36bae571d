"""``/api/audit``: checks described for forms, audit jobs on the tiny model that give the library's
figures, live progress, cancellation, the HTML report and the model card, and clear errors."""

from __future__ import annotations

import importlib
import inspect
import time
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from pellucid.audit.options import OPTIONS
from pellucid.audit.runner import CHECKS, DEFAULT_SUITE, run_audit
from pellucid.serve.app import create_app
from pellucid.service import ModelPool

QUICK = {"toxicity": {"limit": 3, "max_new_tokens": 6}, "robustness": {"limit": 4}}
FUNCTIONS = {
    "bias": "bias_check:bias",
    "stereotypes": "stereotypes_check:stereotypes",
    "toxicity": "toxicity_check:toxicity",
    "pii": "pii_check:pii_audit",
    "groundedness": "groundedness_check:groundedness",
    "constitution": "constitution_check:constitution",
    "robustness": "wrappers:robustness",
    "injection": "wrappers:injection",
}


@pytest.fixture()
def client(tiny_lm, settings):
    pool = ModelPool(settings.with_overrides(default_model=tiny_lm.name))
    pool.add(tiny_lm)
    with TestClient(create_app(pool.settings, pool)) as c:
        yield c


def poll(client: TestClient, job_id: str, until: Any, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/audit/jobs/{job_id}").json()
        if until(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def finished(job: dict[str, Any]) -> bool:
    return job["status"] not in ("queued", "running")


def test_checks_and_their_options_are_described(client):
    data = client.get("/api/audit/checks").json()
    checks = {c["name"]: c for c in data["checks"]}
    assert list(checks) == list(CHECKS)
    assert data["suites"] == {"default": list(DEFAULT_SUITE), "all": list(CHECKS)}
    assert not checks["stereotypes"]["available"] and "--crows-pairs" in checks["stereotypes"]["unavailable_reason"]
    assert all(c["available"] for name, c in checks.items() if name != "stereotypes")
    params = {p["name"]: p for p in checks["pii"]["params"]}
    assert params["backend"]["choices"] == ["auto", "regex", "presidio"] and params["probe"]["type"] == "bool"
    # no option names a file, and each default is the check function's own
    for name, spec in OPTIONS.items():
        module, function = FUNCTIONS[name].split(":")
        signature = inspect.signature(getattr(importlib.import_module(f"pellucid.audit.{module}"), function))
        for p in spec:
            assert p.name not in ("data", "lexicon", "lexicon_file", "principles", "spacy_model", "encoder")
            if p.name in signature.parameters:
                assert signature.parameters[p.name].default == p.default, (name, p.name)


def test_an_audit_job_gives_the_library_figures_the_report_and_the_card(client, tiny_lm):
    res = client.post("/api/audit/jobs", json={"checks": ["toxicity", "robustness"], "options": QUICK})
    assert res.status_code == 202, res.text
    started = res.json()
    assert started["status"] in ("queued", "running") and started["report"] is None
    assert started["params"] == {"model": tiny_lm.name, "checks": ["toxicity", "robustness"], "options": QUICK}
    assert started["progress"]["total"] == 2
    job = poll(client, started["id"], finished)
    assert job["status"] == "done", job
    assert job["progress"]["done"] == 2 and job["progress"]["fraction"] == 1.0
    direct = run_audit(tiny_lm, ["toxicity", "robustness"], options=QUICK)
    report = job["report"]
    assert [c["check"] for c in report["checks"]] == ["toxicity", "robustness"]
    for got, expected in zip(report["checks"], direct.checks):
        assert got["score"] == pytest.approx(expected.score) and got["status"] == expected.status
    assert [s["check"] for s in job["steps"]] == ["toxicity", "robustness"]
    assert job["steps"][0]["score"] == pytest.approx(report["checks"][0]["score"])
    assert report["model"] == tiny_lm.name and sum(report["summary"].values()) == 2

    html = client.get(f"/api/audit/jobs/{job['id']}/report.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "toxicity" in html.text and "robustness" in html.text and "<script" not in html.text
    assert "content-disposition" not in html.headers
    saved = client.get(f"/api/audit/jobs/{job['id']}/report.html", params={"download": True})
    assert saved.headers["content-disposition"].startswith('attachment; filename="audit-')

    card = client.get(f"/api/audit/jobs/{job['id']}/card.md", params={"license": "apache-2.0"})
    assert card.status_code == 200 and card.headers["content-type"].startswith("text/markdown")
    assert card.headers["content-disposition"] == 'attachment; filename="README.md"'
    front = yaml.safe_load(card.text.split("---")[1])
    assert front["license"] == "apache-2.0"
    results = front["model-index"][0]["results"]
    values = {r["task"]["name"]: r["metrics"][0]["value"] for r in results}
    assert len(values) == 2 and pytest.approx(report["checks"][0]["score"], abs=1e-4) in values.values()
    listed = client.get("/api/audit/jobs").json()
    assert listed[0]["id"] == job["id"] and "report" not in listed[0]


def test_cancel_stops_a_running_audit(client):
    options = {"bias": {"attributions": False, "max_new_tokens": 4}, "toxicity": QUICK["toxicity"]}
    res = client.post("/api/audit/jobs", json={"checks": ["bias", "toxicity"], "options": options})
    job_id = res.json()["id"]
    running = poll(client, job_id, lambda j: j["progress"]["current"] == "bias" and j["progress"]["current_done"] >= 1)
    assert running["status"] == "running" and running["progress"]["current_total"] > 2
    cancelled = client.delete(f"/api/audit/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["cancel_requested"]
    job = poll(client, job_id, finished, timeout=60)
    assert job["status"] == "cancelled" and job["report"] is None and "cancelled" in job["error"]
    assert job["steps"] == [] and job["progress"]["done"] == 0  # bias never finished, toxicity never began
    assert job["progress"]["current"] == "bias"  # where it stopped
    assert 0 < job["progress"]["current_done"] < job["progress"]["current_total"]
    assert 0 < job["progress"]["fraction"] < 0.5
    again = client.delete(f"/api/audit/jobs/{job_id}")
    assert again.status_code == 409 and "nothing to cancel" in again.json()["error"]["message"]
    for path in ("report.html", "card.md"):
        late = client.get(f"/api/audit/jobs/{job_id}/{path}")
        assert late.status_code == 409 and "is cancelled" in late.json()["error"]["message"]


def test_a_report_is_not_ready_while_the_audit_runs(client):
    res = client.post("/api/audit/jobs", json={"suite": "bias", "options": {"bias": {"attributions": False}}})
    job_id = res.json()["id"]
    early = client.get(f"/api/audit/jobs/{job_id}/card.md")
    assert early.status_code == 409 and "its report exists once it is done" in early.json()["error"]["message"]
    client.delete(f"/api/audit/jobs/{job_id}")
    poll(client, job_id, finished, timeout=60)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"checks": ["nope"]}, 422, "Unknown audit check: 'nope'"),
        ({"suite": "bias,nope"}, 422, "Unknown audit check: 'nope'"),
        ({}, 422, "Name the checks to run"),
        ({"checks": ["bias"], "suite": "all"}, 422, "either checks or a suite"),
        ({"checks": ["bias"], "options": {"bias": {"top_k": "many"}}}, 422, "top_k='many' must be of type int"),
        ({"checks": ["bias"], "options": {"bias": {"top_k": -1}}}, 422, "below its minimum"),
        ({"checks": ["bias"], "options": {"bias": {"alpha": "nan"}}}, 422, "must be a finite number"),
        ({"checks": ["bias"], "options": {"bias": {"data": "/etc/passwd"}}}, 422, "has no option 'data'"),
        ({"checks": ["bias"], "options": {"pii": {"probe": False}}}, 422, "not among the checks run: bias"),
        ({"checks": ["bias"], "chekcs": ["pii"]}, 422, "chekcs: Extra inputs are not permitted"),
        ({"checks": []}, 422, "checks: List should have at least 1 item"),
        ({"checks": ["bias"], "model": "/etc/passwd"}, 404, "is not served here"),
    ],
)
def test_bad_requests_are_refused_clearly(client, body, status, message):
    res = client.post("/api/audit/jobs", json=body)
    assert res.status_code == status, res.text
    assert message in res.json()["error"]["message"]
    assert client.get("/api/audit/jobs").json() == []  # nothing was queued


def test_unknown_jobs_are_404(client):
    for method, path in [
        ("GET", "/api/audit/jobs/nope"),
        ("DELETE", "/api/audit/jobs/nope"),
        ("GET", "/api/audit/jobs/nope/report.html"),
        ("GET", "/api/audit/jobs/nope/card.md"),
    ]:
        res = client.request(method, path)
        assert res.status_code == 404 and "No job 'nope'" in res.json()["error"]["message"]
    bad = client.get("/api/audit/jobs/nope/card.md", params={"license": "<script>"})
    assert bad.status_code == 422 and "license" in bad.json()["error"]["message"]


def test_progress_points_cover_the_attribution_loop(tiny_lm):
    """The bias check reports progress through its templates and then each attributed pair, so a
    cancel lands inside the check; the result is the same with or without a progress hook."""
    calls: list[tuple[str, int, int]] = []
    options = {"bias": {"dimensions": "gender", "top_k": 2, "max_new_tokens": 4}}
    report = run_audit(tiny_lm, ["bias"], options=options, progress=lambda c, d, t: calls.append((c, d, t)))
    plain = run_audit(tiny_lm, ["bias"], options=options)
    templates = report.checks[0].metrics["templates"]
    assert [d for _, d, _ in calls] == list(range(1, templates + 3))
    assert {t for _, _, t in calls} == {templates + 2}
    assert report.checks[0].score == plain.checks[0].score
    assert [f["attribution_original"] for f in report.checks[0].findings] == [
        f["attribution_original"] for f in plain.checks[0].findings
    ]
