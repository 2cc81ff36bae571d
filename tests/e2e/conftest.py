"""End-to-end fixtures: a real uvicorn server on a free port and a real headless Chromium.

The server runs in a thread of the test process with the bundled SmolLM2 (the default model)
and the tiny random model in its pool, and a fresh SQLite monitoring store. Chromium is
Debian's (``scripts/install_chromium.sh``), driven by Playwright from pip; the tests skip with
the reason when either is missing. Screenshots go to ``tests/e2e/artifacts/`` (gitignored).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PELLUCID_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
STATIC = Path(__file__).resolve().parents[2] / "src" / "pellucid" / "serve" / "static" / "index.html"


@dataclass
class Server:
    url: str
    app: Any
    store: Any
    smollm: str
    tiny: str

    def flush(self) -> None:
        assert self.app.state.pellucid.monitor.flush(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(app: Any) -> tuple[str, Any, threading.Thread]:
    """Run ``app`` with uvicorn in a thread; returns its URL, the server and the thread."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def stop_server(server: Any, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="session")
def server(smollm, tiny_lm, test_settings, tmp_path_factory) -> Iterator[Server]:
    if not STATIC.is_file():
        pytest.skip(f"the workbench is not built ({STATIC} missing): run scripts/build_frontend.sh")
    from pellucid.monitor import Store
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool

    settings = test_settings.with_overrides(default_model=smollm.name)
    pool = ModelPool(settings)
    pool.add(smollm)
    pool.add(tiny_lm)
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'monitor.db'}")
    app = create_app(settings, pool, store)
    url, uv, thread = start_server(app)
    try:
        yield Server(url, app, store, smollm.name, tiny_lm.name)
    finally:
        stop_server(uv, thread)
        store.close()


@pytest.fixture(scope="package")  # closed before other folders run: its event loop must not outlive e2e
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: run scripts/install_chromium.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI installs it (scripts/setup.sh --dev): a missing browser is a broken setup
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, server, request) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=server.url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the workbench in a real headless Chromium")
