"""Shared steps for factor tests: sign in on the hosted form, enroll an authenticator app."""

from __future__ import annotations

import re
from html import unescape

import pyotp

from tests.support.oidc import HostedPages, csrf_token


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
