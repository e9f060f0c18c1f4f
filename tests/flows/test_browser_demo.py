"""A real Chromium signs in to the demo relying app through the hosted pages and signs out."""

from __future__ import annotations

import pytest

from tests.support.browser import chromium_browser
from tests.support.demo import demo_app


@pytest.fixture(scope="module")
def demo(server):
    with demo_app(server, "Demo relying app") as base:
        yield base


def test_browser_signs_in_to_demo_app_and_out_again(server, demo, user):
    with chromium_browser() as browser:
        page = browser.new_page()
        page.goto(demo)
        page.get_by_role("button", name="Sign in with idp").click()
        page.wait_for_url(f"{server.url}/login*")
        page.get_by_label("Email").fill(user["email"])
        page.get_by_label("Password").fill(user["password"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{demo}/")
        text = page.locator("main").inner_text()
        assert user["sub"] in text and user["email"] in text
        assert "pwd" in text and "urn:idp:acr:pwd" in text
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{demo}/*")
        assert page.get_by_role("button", name="Sign in with idp").is_visible()
        page.goto(f"{server.url}/account/")
        assert page.url.startswith(f"{server.url}/login")
