"""A real Chromium receives the authorization response by form_post and posts it to the client.

The client is a small HTTP server on a loopback port that records what is posted to its redirect
URI; the posted code is then redeemed by the real OIDC client helpers. The page must work under
the provider's CSP (its own script, a ``form-action`` for the client's origin) and, without
JavaScript, through its visible button.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.support.browser import chromium_browser
from tests.support.oidc import RelyingParty
from tests.support.postgres import free_port


@dataclass
class Receiver:
    """The client's redirect URI, and the requests it received there."""

    redirect_uri: str
    received: queue.Queue

    def next(self) -> tuple[str, dict]:
        return self.received.get(timeout=15)


def _handler(received: queue.Queue) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            self._answer(dict(parse_qsl(self.rfile.read(length).decode())))

        def do_GET(self) -> None:
            self._answer(dict(parse_qsl(urlsplit(self.path).query)))

        def _answer(self, params: dict) -> None:
            """Record a request to the redirect URI (not the browser's favicon request)."""
            if urlsplit(self.path).path != "/cb":
                self.send_error(404)
                return
            received.put((self.command, params))
            body = b"<!doctype html><title>Client</title><h1>Response received</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            """Quiet: the test reads what was received, not a log."""

    return Handler


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    received: queue.Queue = queue.Queue()
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(received))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://localhost:{httpd.server_port}/cb", received)
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def client(server, receiver) -> dict:
    return server.create_client(
        "--name", "Form post RP", "--redirect-uri", receiver.redirect_uri, "--first-party"
    )  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium_browser() as launched:
        yield launched


@contextmanager
def _page(browser: Browser, **options) -> Iterator[tuple[Page, list[str]]]:
    """A page in a fresh context, and the CSP violations its console reports (a blocked script
    or form post)."""
    context = browser.new_context(**options)
    page = context.new_page()
    reports: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            reports.append(message.text)

    page.on("console", seen)
    try:
        yield page, reports
    finally:
        context.close()


def _sign_in(page: Page, user: dict) -> None:
    page.get_by_label("Email").fill(user["email"])
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Sign in").click()


def _redeem(relying: RelyingParty, code: str, verifier: str, nonce: str) -> dict:
    response = relying.post(
        relying.meta["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": relying.redirect_uri,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.text
    token = response.json()
    return relying.verify_id_token(token["id_token"], nonce, token["access_token"])


def test_browser_posts_the_code_to_the_client_by_itself(server, browser, receiver, client, user):
    relying = RelyingParty(server, client)
    url, state, nonce, verifier = relying.authorization_url(response_mode="form_post")
    with _page(browser) as (page, reports):
        page.goto(url)
        _sign_in(page, user)
        page.wait_for_url(receiver.redirect_uri)
    method, posted = receiver.next()
    assert method == "POST"
    assert set(posted) == {"code", "state", "iss"}
    assert posted["state"] == state and posted["iss"] == server.url
    assert _redeem(relying, posted["code"], verifier, nonce)["sub"] == user["sub"]
    assert reports == []


def test_without_javascript_the_visible_button_posts_the_response(
    server, browser, receiver, client, user
):
    relying = RelyingParty(server, client)
    url, state, nonce, verifier = relying.authorization_url(response_mode="form_post")
    with _page(browser, java_script_enabled=False) as (page, reports):
        page.goto(url)
        _sign_in(page, user)
        button = page.get_by_role("button", name="Continue")
        button.wait_for()
        assert page.url.startswith(f"{server.url}/authorize") and receiver.received.empty()
        button.click()
        page.wait_for_url(receiver.redirect_uri)
    method, posted = receiver.next()
    assert method == "POST" and posted["state"] == state and posted["iss"] == server.url
    assert _redeem(relying, posted["code"], verifier, nonce)["sub"] == user["sub"]
    assert reports == []
