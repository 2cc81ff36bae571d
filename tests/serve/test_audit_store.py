"""Finished audits are kept in the monitoring store: after a restart (a new app on the same
store) the workbench still lists them, and their report, HTML page and model card are served."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from pellucid.monitor import Store
from pellucid.serve.app import create_app
from pellucid.service import ModelPool
from tests.serve.test_audit_api import QUICK, finished, poll


@pytest.fixture()
def pool(tiny_lm, settings) -> ModelPool:
    pool = ModelPool(settings.with_overrides(default_model=tiny_lm.name))
    pool.add(tiny_lm)
    return pool


def test_a_finished_audit_outlives_a_restart(pool, tiny_lm, tmp_path):
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    with Store.open(url) as store, TestClient(create_app(pool.settings, pool, store)) as client:
        res = client.post("/api/audit/jobs", json={"checks": ["toxicity"], "options": {"toxicity": QUICK["toxicity"]}})
        assert res.status_code == 202, res.text
        job = poll(client, res.json()["id"], finished)
        assert job["status"] == "done", job
        (kept,) = store.reports.list_audit_reports()
        assert kept.id == str(uuid.UUID(job["id"])) and kept.checks == ["toxicity"]
        assert kept.report == job["report"]
        page = client.get(f"/api/audit/jobs/{job['id']}/report.html").text

    with Store.open(url) as store, TestClient(create_app(pool.settings, pool, store)) as client:  # restarted
        listed = client.get("/api/audit/jobs").json()
        assert [(j["id"], j["status"], j.get("stored")) for j in listed] == [(kept.id, "done", True)]
        assert listed[0]["params"]["model"] == tiny_lm.name and "report" not in listed[0]
        for job_id in (job["id"], kept.id):  # the job's hex id and the stored, dashed form
            again = client.get(f"/api/audit/jobs/{job_id}").json()
            assert again["status"] == "done" and again["report"] == job["report"]
            assert [s["check"] for s in again["steps"]] == ["toxicity"]
            assert again["progress"]["fraction"] == 1.0
        assert client.get(f"/api/audit/jobs/{kept.id}/report.html").text == page
        card = client.get(f"/api/audit/jobs/{kept.id}/card.md")
        assert card.status_code == 200 and tiny_lm.name in card.text
        missing = client.get(f"/api/audit/jobs/{uuid.uuid4()}")
        assert missing.status_code == 404 and "No job" in missing.json()["error"]["message"]
        assert client.get("/api/audit/jobs/not-an-id").status_code == 404
