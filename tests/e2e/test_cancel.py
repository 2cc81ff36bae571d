"""Cancel in the browser stops the explanation on the server (uvicorn sees the disconnect)."""

from __future__ import annotations

import threading
import time

import pytest

from pellucid.errors import Cancelled
from pellucid.serve.disconnect import CancelToken

pytestmark = [pytest.mark.e2e]

PROMPT = (
    "Please tell me in one short sentence which of the rivers that flow through the old towns of "
    "northern Europe is the longest one and why it matters"
)


def test_cancel_stops_the_server_computation(page, server, monkeypatch):
    calls: list[tuple[int, int]] = []
    stopped = threading.Event()
    progress, check = CancelToken.progress, CancelToken.check

    def record(self: CancelToken, done: int, total: int) -> None:
        calls.append((done, total))
        progress(self, done, total)

    def watch(self: CancelToken, where: str) -> None:  # at progress points and before forward passes
        try:
            check(self, where)
        except Cancelled:
            stopped.set()
            raise

    monkeypatch.setattr(CancelToken, "progress", record)
    monkeypatch.setattr(CancelToken, "check", watch)
    page.goto("/#explain")
    page.select_option("#model-select", server.tiny)
    page.fill("#explain-prompt", PROMPT)
    page.fill("#explain-target", " The Rhine.")
    page.select_option("#explain-method", "lime")
    page.fill("#explain-p-n_samples", "4000")
    page.click("#explain-run")
    deadline = time.monotonic() + 60
    while not calls:
        assert time.monotonic() < deadline, "the explanation never reported progress"
        time.sleep(0.02)
    page.click("#explain-status button:has-text('Cancel')")
    page.wait_for_function("document.querySelector('#explain-status').textContent.includes('cancelled')")
    assert stopped.wait(30), f"the server did not stop: {calls}"
    done, total = calls[-1]
    assert total >= 10 * 256 and done < total / 2, calls
    assert page.locator("#explain-result .heatmap").count() == 0
