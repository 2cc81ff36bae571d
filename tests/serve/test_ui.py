"""The workbench routes: the built app at ``/``, its hashed assets, and a clear page when unbuilt."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from pellucid.serve.app import create_app
from pellucid.serve.routers import ui
from pellucid.service import ModelPool


@pytest.fixture()
def client(tiny_lm, settings):
    pool = ModelPool(settings.with_overrides(default_model=tiny_lm.name))
    pool.add(tiny_lm)
    return TestClient(create_app(pool.settings, pool))


@pytest.fixture()
def built(tmp_path, monkeypatch):
    """A fake build in a temporary folder (the tests must not depend on a real Node build)."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><title>Pellucid workbench</title><script type="module" src="/assets/index-abc123.js"></script>'
    )
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('workbench')")
    (tmp_path / "secret.txt").write_text("not an asset")
    monkeypatch.setattr(ui, "STATIC", tmp_path)
    return tmp_path


def test_index_serves_the_built_app(client, built):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Pellucid workbench" in page.text and page.headers["cache-control"] == "no-cache"
    asset = client.get("/assets/index-abc123.js")
    assert asset.status_code == 200 and asset.text == "console.log('workbench')"
    assert "javascript" in asset.headers["content-type"] and "immutable" in asset.headers["cache-control"]


def test_assets_outside_the_folder_or_missing_are_404(client, built):
    assert client.get("/assets/nope.js").status_code == 404
    assert client.get("/assets/../secret.txt").status_code == 404
    assert client.get("/assets/%2e%2e/secret.txt").status_code == 404
    assert client.get("/assets/..%2fsecret.txt").status_code == 404


def test_unbuilt_app_says_how_to_build(client, tmp_path, monkeypatch):
    monkeypatch.setattr(ui, "STATIC", tmp_path / "missing")
    page = client.get("/")
    assert page.status_code == 200 and "scripts/build_frontend.sh" in page.text
    assert "/health" in page.text and client.get("/assets/index.js").status_code == 404


def test_health_page_moved_and_api_unchanged(client, tiny_lm, built):
    page = client.get("/health")
    assert page.status_code == 200 and tiny_lm.name in page.text
    assert client.get("/api/health").json()["status"] == "ok"
    assert "/" not in [r for r in client.get("/api/openapi.json").json()["paths"]]


def test_the_shipped_build_is_complete():
    """When the package ships a build, index.html references assets that exist."""
    index = ui.STATIC / "index.html"
    if not index.is_file():
        pytest.skip("the workbench is not built in this checkout (scripts/build_frontend.sh)")
    refs = re.findall(r'(?:src|href)="/assets/([^"]+)"', index.read_text())
    assert refs and all((ui.STATIC / "assets" / r).is_file() for r in refs)


def test_api_docs_load_nothing_from_another_host(client, built):
    """/api/docs is Swagger UI from the package's own files: it works offline."""
    (built / "docs-ui").mkdir()
    (built / "docs-ui" / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = function () {};")
    (built / "docs-ui" / "swagger-ui.css").write_text(".swagger-ui {}")
    page = client.get("/api/docs")
    assert page.status_code == 200 and "/api/openapi.json" in page.text
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
    assert urls and all(not re.match(r"(?:https?:)?//", u) for u in urls), urls
    assert "cdn" not in page.text.lower() and "validatorUrl" in page.text
    for url in urls:
        if url.startswith("/"):
            assert client.get(url).status_code == 200, url
    assert client.get("/docs-ui/../secret.txt").status_code == 404
    assert client.get("/redoc").status_code == 404  # ReDoc would load its script from a CDN: not offered


def test_the_shipped_build_has_the_api_docs_files():
    if not (ui.STATIC / "index.html").is_file():
        pytest.skip("the workbench is not built in this checkout (scripts/build_frontend.sh)")
    bundle = ui.STATIC / "docs-ui" / "swagger-ui-bundle.js"
    assert bundle.is_file() and bundle.stat().st_size > 100_000 and (ui.STATIC / "docs-ui" / "swagger-ui.css").is_file()
