"""The admin console's default: a sign-in whose second factor is a passkey (the ``phr`` level).

On the shared live provider (SQLite and PostgreSQL, ``IDP_ADMIN_REQUIRE_PASSKEY`` at its default):
an admin without a passkey is told to add one, even after an authenticator app code; an admin
with one who signed in with a one-time code is sent to answer the passkey, and then gets in. The
passkey is a software authenticator answering at the HTTP level, as ``static/passkeys.js`` would.
"""

from __future__ import annotations

from urllib.parse import urljoin

from tests.admin.support import person
from tests.support.factors import (
    answer_soft_passkey,
    backup_code_page,
    enroll_soft_passkey,
    enroll_totp,
    next_totp,
    password_sign_in,
)
from tests.support.oidc import HostedPages, submit_code


def _with_code(server, account: dict, backup: bool = False) -> tuple[HostedPages, object]:
    """A fresh browser signed in with a password and an app code (or a backup code), then
    sent on to /admin/."""
    browser = HostedPages(server.url)
    password_sign_in(browser, account)
    page = browser.follow(server.url + "/admin/", stop_at="/never")
    assert 'name="code"' in page.text, page.text[:300]  # the app code: the one used last
    if backup:
        page = backup_code_page(browser, page)
    code = account["codes"].pop() if backup else next_totp(account)
    return browser, submit_code(browser, page, code, stop_at="/never")


def test_admin_console_needs_a_sign_in_with_a_passkey(server):
    account = enroll_totp(server, person(server, "admin"))
    browser, page = _with_code(server, account)
    assert page.status_code == 403 and "The admin console needs a passkey" in page.text
    assert 'href="/account/security/passkeys"' in page.text

    credential = enroll_soft_passkey(browser, account["sub"])
    browser, asked = _with_code(server, account, backup=True)
    assert asked.status_code == 200 and "data-options-url" in asked.text  # the passkey step
    assert "confirm it is you with your passkey" in asked.text
    answer_soft_passkey(browser, asked, credential, sign_count=1)
    page = browser.get(urljoin(server.url, "/admin/"), allow_redirects=False)
    assert page.status_code == 200 and "Admin console" in page.text
