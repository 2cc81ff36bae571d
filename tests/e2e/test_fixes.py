"""Regressions found by trying the workbench as a new user would (1280 and 800 px wide, offline):
each test reproduces one of them."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e]


def test_api_docs_render_offline(page, server):
    """The header's API link: Swagger UI draws the operations with no request to another host."""
    outside: list[str] = []

    def guard(route):
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", guard)
    page.goto("/")
    with page.context.expect_page() as opened:
        page.click("header a:has-text('API')")
    docs = opened.value
    docs.locator(".swagger-ui .opblock").first.wait_for(timeout=20_000)
    assert docs.locator(".swagger-ui .opblock").count() > 20
    assert outside == []
