"""Shared steps for factor tests: sign in on the hosted form, enroll an authenticator app or a
software passkey, answer them."""

from __future__ import annotations

import re
import time
from html import unescape

import pyotp

from tests.support.oidc import HostedPages, csrf_token, hidden
from tests.support.webauthn import SoftAuthenticator, VirtualCredential


def password_sign_in(browser: HostedPages, person: dict, next_page: str = ""):
    """Fill the hosted sign-in form (no second factor yet); returns the POST's response."""
    page = browser.get(browser.base + "/login")
    data = {
        "csrf_token": csrf_token(page.text),
        "email": person["email"],
        "password": person["password"],
        "next": next_page,
    }
    return browser.post(browser.base + "/login", data=data, allow_redirects=False)


def enroll_totp(server, person: dict | None = None) -> dict:
    """A user with an authenticator app, enrolled through the security page.

    Returns the user with ``secret`` and the backup ``codes`` shown after the first factor.
    """
    person = person or server.create_user()
    browser = HostedPages(server.url)
    password_sign_in(browser, person, "security")
    page = browser.get(server.url + "/account/security/totp")
    assert page.status_code == 200 and "<svg" in page.text
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    done = browser.post(
        server.url + "/account/security/totp",
        data={
            "csrf_token": csrf_token(page.text),
            "challenge": hidden(page.text, "challenge"),
            "name": "Phone",
            "code": pyotp.TOTP(secret).now(),
        },
    )
    assert done.status_code == 200, done.text[:400]
    codes = [unescape(c) for c in re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", done.text)]
    return {**person, "secret": secret, "codes": codes}


def backup_code_page(browser: HostedPages, page):
    """From a second-factor page, follow "Use a backup code"."""
    link = re.search(r'href="(/mfa/\d+\?next=[^"]*)">\s*Use a backup code', page.text).group(1)
    return browser.get(browser.base + unescape(link))


def next_totp(person: dict) -> str:
    """A fresh TOTP code for ``person`` (a later step each call: used steps are refused)."""
    person["step"] = person.get("step", 0) + 1
    return pyotp.TOTP(person["secret"]).at(time.time() + 30 * person["step"])


def enroll_soft_passkey(
    browser: HostedPages, user_sub: str, *, backup_eligible: bool = False
) -> VirtualCredential:
    """Register a software passkey (``SoftAuthenticator``; synced when ``backup_eligible``)
    through the security page's JSON endpoints, as ``static/passkeys.js`` would; the browser
    must be recently signed in. The first factor's backup codes page is left unread."""
    page = browser.get(browser.base + "/account/security/passkeys")
    assert page.status_code == 200, page.text[:300]
    headers = {"X-CSRFToken": csrf_token(page.text)}
    options = browser.post(
        browser.base + "/account/security/passkeys/options", json={}, headers=headers
    ).json()
    authenticator = SoftAuthenticator(backup_eligible=backup_eligible)
    credential = authenticator.registration(options["publicKey"]["challenge"], browser.base)
    done = browser.post(
        browser.base + "/account/security/passkeys/verify",
        json={"challenge": options["challenge"], "credential": credential, "name": "Key"},
        headers=headers,
    )
    assert done.status_code == 200, done.text[:300]
    return authenticator.credential(user_sub.encode())


def answer_soft_passkey(
    browser: HostedPages, page, credential: VirtualCredential, sign_count: int
) -> str:
    """Answer a passkey second-factor page with ``credential``; returns where to go next."""
    base = browser.base
    options_url = unescape(re.search(r'data-options-url="([^"]+)"', page.text).group(1))
    verify_url = unescape(re.search(r'data-verify-url="([^"]+)"', page.text).group(1))
    headers = {"X-CSRFToken": csrf_token(page.text)}
    options = browser.post(base + options_url, json={}, headers=headers).json()
    assertion = credential.assertion(options["publicKey"]["challenge"], base, sign_count=sign_count)
    next_key = re.search(r"next=([0-9a-f]+)", page.url)
    body = {"challenge": options["challenge"], "credential": assertion,
            "next": next_key.group(1) if next_key else ""}  # fmt: skip
    answered = browser.post(base + verify_url, json=body, headers=headers)
    assert answered.status_code == 200, answered.text[:300]
    return answered.json()["redirect"]
