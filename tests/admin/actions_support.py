"""Steps the user-actions tests (console and CLI) share: tokens for a user, a password
sign-in's status, and the reset link mailed to the development outbox."""

from __future__ import annotations

import email
import email.policy
import re
import time

from tests.support.factors import password_sign_in
from tests.support.oidc import HostedPages, RelyingParty


def tokens(console, client: dict, target: dict) -> tuple[RelyingParty, dict]:
    """Tokens for ``target`` (no second factor enrolled), offline access included."""
    relying, browser = RelyingParty(console, client), HostedPages(console.url)
    result = relying.sign_in(browser, target)
    response = relying.redeem(result)
    assert response.status_code == 200, response.text
    return relying, response.json()


def sign_in_status(console, target: dict, password: str | None = None):
    browser = HostedPages(console.url)
    return password_sign_in(browser, {**target, "password": password or target["password"]})


def mailed_link(console, to: str, after: float, timeout: float = 10) -> str:
    """The reset link in the newest mail to ``to`` written to the outbox after ``after``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted((console.instance / "outbox").glob("*.eml"), reverse=True):
            if int(path.name.split("-")[0]) < after * 1e9:
                continue
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            found = re.search(r"http://\S+/password/reset/\S+", message.get_content())
            if message["To"] == to and found:
                return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no reset link mailed to {to}")
