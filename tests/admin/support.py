"""Steps the admin console's tests share: people with roles, signed in on the hosted pages."""

from __future__ import annotations

import json
import re
from html import unescape

from tests.support.factors import enroll_totp, next_totp, password_sign_in
from tests.support.oidc import HostedPages, csrf_token, submit_code


def person(server, *roles: str, **kw) -> dict:
    """A new user holding ``roles`` (set with ``idp users set-roles``)."""
    account = server.create_user(**kw)
    if roles:
        server.cli("users", "set-roles", account["email"], *roles)
    return account


def show(server, email: str) -> dict:
    return json.loads(server.cli("users", "show", email).stdout)


def user_id(browser: HostedPages, email: str) -> int:
    """The console's id of ``email``'s user, found through the user list."""
    page = browser.get(browser.base + "/admin/users", params={"q": email})
    assert page.status_code == 200, page.text[:300]
    return int(re.search(r'href="/admin/users/(\d+)"', page.text).group(1))


def console_browser(server, *roles: str) -> tuple[HostedPages, dict]:
    """A browser signed in with a password and an authenticator app code, as a new user with
    ``roles``, on the console's dashboard."""
    account = enroll_totp(server, person(server, *roles))
    browser = HostedPages(server.url)
    password_sign_in(browser, account)
    asked = browser.get(server.url + "/admin/", allow_redirects=False)
    assert asked.status_code in (302, 303), asked.text[:300]
    assert "/mfa/?next=admin" in asked.headers["Location"]
    page = browser.follow(server.url + asked.headers["Location"], stop_at="/never")
    done = submit_code(browser, page, next_totp(account), stop_at="/never")
    assert done.status_code == 200 and "Admin console" in done.text, done.text[:300]
    return browser, account


def roles_form(page_html: str) -> tuple[str, str]:
    """The set-roles form's action and CSRF token."""
    action = re.search(r'<form method="post" action="([^"]+/roles)"', page_html).group(1)
    return unescape(action), csrf_token(page_html)
