"""A running request that names its progress (X-Pellucid-Progress) can be followed at
GET /api/progress/{id}: done, total and the fraction, until it ends."""

from __future__ import annotations

import threading

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from pellucid.serve.disconnect import CancelToken, run_until_disconnect
from pellucid.serve.routers import progress


@pytest.fixture()
def app_and_gate():
    app = FastAPI()
    app.include_router(progress.router, prefix="/api")
    reached, release = threading.Event(), threading.Event()

    @app.post("/api/work")
    async def work(request: Request) -> dict[str, int]:
        def run(token: CancelToken) -> dict[str, int]:
            token(0, 40)
            token(30, 40)
            reached.set()
            release.wait(10)
            token(40, 40)
            return {"ok": 1}

        return await run_until_disconnect(request, run)

    return app, reached, release


def test_a_running_request_reports_its_fraction(app_and_gate) -> None:
    app, reached, release = app_and_gate
    with TestClient(app) as client:
        answers: list[int] = []
        worker = threading.Thread(
            target=lambda: answers.append(
                client.post("/api/work", headers={"X-Pellucid-Progress": "job-1"}).status_code
            )
        )
        worker.start()
        assert reached.wait(10)
        now = client.get("/api/progress/job-1").json()
        assert now == {"id": "job-1", "done": 30, "total": 40, "fraction": 0.75}
        release.set()
        worker.join(10)
        assert answers == [200]
        gone = client.get("/api/progress/job-1")
        assert gone.status_code == 404 and "job-1" in gone.json()["detail"]
        assert client.get("/api/progress/never-announced").status_code == 404
