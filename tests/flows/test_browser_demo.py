"""A real Chromium signs in to the demo relying app through the hosted pages and signs out."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.browser import chromium_browser
from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_app(server):
    port = free_port()
    base = f"http://localhost:{port}"
    client = server.create_client(
        "--name", "Demo relying app", "--redirect-uri", f"{base}/callback",
        "--post-logout-redirect-uri", f"{base}/", "--first-party",
    )  # fmt: skip
    env = {
        **os.environ,
        "DEMO_ISSUER": server.url,
        "DEMO_CLIENT_ID": client["client_id"],
        "DEMO_CLIENT_SECRET": client["client_secret"],
        "DEMO_BASE_URL": base,
    }
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "examples.demo_rp.app", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(base)
    yield base
    process.terminate()
    process.wait(timeout=10)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def test_browser_signs_in_to_demo_app_and_out_again(server, demo_app, user):
    with chromium_browser() as browser:
        page = browser.new_page()
        page.goto(demo_app)
        page.get_by_role("button", name="Sign in with idp").click()
        page.wait_for_url(f"{server.url}/login*")
        page.get_by_label("Email").fill(user["email"])
        page.get_by_label("Password").fill(user["password"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{demo_app}/")
        text = page.locator("main").inner_text()
        assert user["sub"] in text and user["email"] in text
        assert "pwd" in text and "urn:idp:acr:pwd" in text
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{demo_app}/*")
        assert page.get_by_role("button", name="Sign in with idp").is_visible()
        page.goto(f"{server.url}/account/")
        assert page.url.startswith(f"{server.url}/login")
