"""Accounts, not only addresses, are protected from guessing (NIST SP 800-63B 5.2.2).

Wrong passwords come from 40 loopback addresses (127.0.0.x) at once, so the per-address limit
never fires; the per-account back-off must still slow the next attempt, treat an unknown email
exactly alike, tell the owner by mail, and give way to a password reset by email.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.cli.helpers import audit_rows
from tests.support.live import make_server
from tests.support.oidc import HostedPages, csrf_token
from tests.support.postgres import create_database
from tests.support.smtp import smtp_server

ADDRESSES = [f"127.0.0.{n}" for n in range(10, 50)]
AFTER, FIRST, NOTICE = 3, 60, 3


class _From(HTTPAdapter):
    """Connections from one loopback source address: one of 40 different clients."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def guarded(request, tmp_path_factory):
    url = None
    if request.param == "postgresql":
        url = create_database(request.getfixturevalue("postgres_url"), "idp_backoff")
    with smtp_server() as (inbox, port):
        live = make_server(
            tmp_path_factory.mktemp(f"idp-backoff-{request.param}"), url,
            SMTP_HOST="127.0.0.1", SMTP_PORT=port, RATE_LIMIT_PER_MINUTE=5,
            PASSWORD_BACKOFF_AFTER=AFTER, PASSWORD_BACKOFF_FIRST=FIRST,
            PASSWORD_FAILURE_NOTICE=NOTICE,
        )  # fmt: skip
        live.start()
        live.inbox = inbox
        yield live
        live.stop()


def _browser(server, address: str) -> HostedPages:
    browser = HostedPages(server.url.replace("localhost", "127.0.0.1"))
    browser.mount("http://", _From(address))
    return browser


def _sign_in(server, address: str, email: str, password: str) -> requests.Response:
    browser = _browser(server, address)
    page = browser.get(browser.base + "/login")
    data = {"csrf_token": csrf_token(page.text), "email": email, "password": password}
    return browser.post(browser.base + "/login", data=data, allow_redirects=False)


def _reset_link(server, email: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in server.inbox.messages:
            body = message.get_payload(decode=True).decode()
            found = re.search(r"http://\S+/password/reset/\S+", body)
            if message["To"] == email and found:
                return found.group(0)
        time.sleep(0.05)
    raise AssertionError(f"no reset link mailed to {email}")


def _guesses(server, email: str) -> list[tuple[int, str]]:
    """40 wrong passwords, each from its own address; what each page said (times blanked)."""
    answers = []
    for address in ADDRESSES:
        page = _sign_in(server, address, email, "wrong password " + address)
        said = re.search(r'class="error"[^>]*>([^<]*)<', page.text)
        text = re.sub(r"\d\d:\d\d:\d\d UTC", "HH:MM:SS UTC", said.group(1) if said else "")
        answers.append((page.status_code, text))
    return answers


def test_guesses_from_many_addresses_slow_the_account_and_reveal_nothing(guarded):
    person = guarded.create_user()
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"

    known_answers, unknown_answers = _guesses(guarded, person["email"]), _guesses(guarded, unknown)

    statuses = [status for status, _ in known_answers]
    assert statuses == [401] * AFTER + [429] * (len(ADDRESSES) - AFTER), known_answers
    assert "Try again after HH:MM:SS UTC" in known_answers[AFTER - 1][1]
    assert unknown_answers == known_answers  # an unknown email is treated exactly alike
    right = _sign_in(guarded, "127.0.0.60", person["email"], person["password"])
    assert right.status_code == 429 and "Try again after" in right.text
    assert 0 < int(right.headers["Retry-After"]) <= FIRST
    assert "/account" not in right.headers.get("Location", "")

    mailed = guarded.inbox.wait_for(person["email"]).get_payload(decode=True).decode()
    assert f"{NOTICE} sign-ins with a wrong password" in mailed
    started = [r for r in audit_rows(guarded) if r["event"] == "password_backoff"]
    assert {r["actor"] for r in started} == {person["email"], unknown}


def test_a_reset_by_email_ends_the_back_off(guarded):
    person = guarded.create_user()
    for address in ADDRESSES[:AFTER]:
        _sign_in(guarded, address, person["email"], "wrong password")
    assert _sign_in(guarded, "127.0.0.61", person["email"], person["password"]).status_code == 429

    browser = _browser(guarded, "127.0.0.62")
    page = browser.get(browser.base + "/password/forgot")
    browser.post(
        browser.base + "/password/forgot",
        data={"csrf_token": csrf_token(page.text), "email": person["email"]},
    )
    link = _reset_link(guarded, person["email"]).replace("localhost", "127.0.0.1")
    page = browser.get(link)
    new = {
        "csrf_token": csrf_token(page.text),
        "password": "new pass 123",
        "confirm": "new pass 123",
    }
    assert browser.post(link, data=new, allow_redirects=False).status_code == 303

    signed_in = _sign_in(guarded, "127.0.0.63", person["email"], "new pass 123")
    assert signed_in.status_code == 303, signed_in.text[:300]
