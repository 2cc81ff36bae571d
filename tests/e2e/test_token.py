"""A server started with an API token: the workbench asks for it once, then every call carries it."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import start_server, stop_server

pytestmark = [pytest.mark.e2e]


@pytest.fixture()
def token_server(tiny_lm, settings):
    from pellucid.serve.app import create_app
    from pellucid.service import ModelPool

    if "api_token" not in type(settings).__dataclass_fields__:
        pytest.skip("this build of Pellucid has no API tokens")
    settings = settings.with_overrides(default_model=tiny_lm.name, api_token="s3cret-token")
    pool = ModelPool(settings)
    pool.add(tiny_lm)
    url, server, thread = start_server(create_app(settings, pool))
    yield url
    stop_server(server, thread)


def test_token_is_asked_for_and_sent(browser, token_server):
    page = browser.new_page()
    try:
        page.goto(f"{token_server}/#inspect")
        page.locator("#api-token").fill("wrong")
        page.click("text=Continue")
        page.locator("#api-token").wait_for()  # refused: asked again, with the server's reason
        assert "token" in page.inner_text(".token-form").lower()
        page.locator("#api-token").fill("s3cret-token")
        page.click("text=Continue")
        page.select_option("#inspect-verb", "head_summary")
        page.click("#inspect-run")
        page.locator("#inspect-result .grid").wait_for()
        # the address form (#token=...) works too and leaves no token in the address
        fresh = browser.new_page()
        fresh.goto(f"{token_server}/#token=s3cret-token")
        fresh.locator("#explain-run").wait_for()
        assert "token" not in fresh.url
        fresh.close()
    finally:
        page.close()
