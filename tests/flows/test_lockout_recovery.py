"""A hard-locked factor is lifted by an administrator or by a successful recovery."""

from __future__ import annotations

import json
import re
import time
from html import unescape

import pyotp
import pytest

from tests.support.live import make_server
from tests.support.oidc import HostedPages, RelyingParty, csrf_token, submit_code


@pytest.fixture(scope="module")
def lock_server(tmp_path_factory):
    live = make_server(
        tmp_path_factory.mktemp("idp-lock"), None, LOCKOUT_THRESHOLD=3, BACKOFF_AFTER=50
    )
    live.start()
    live.rp = live.create_client(
        "--name", "RP", "--redirect-uri", "http://localhost:9/cb", "--first-party"
    )
    yield live
    live.stop()


def _enroll(server) -> dict:
    person = server.create_user()
    browser = HostedPages(server.url)
    page = browser.get(server.url + "/login")
    browser.post(server.url + "/login", data={
        "csrf_token": csrf_token(page.text), "email": person["email"],
        "password": person["password"], "next": "security"})  # fmt: skip
    page = browser.get(server.url + "/account/security/totp")
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    done = browser.post(server.url + "/account/security/totp", data={
        "csrf_token": csrf_token(page.text), "name": "Phone",
        "code": pyotp.TOTP(secret).now()})  # fmt: skip
    codes = re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", done.text)
    return {**person, "secret": secret, "codes": codes}


def _lock(server, person):
    relying, browser = RelyingParty(server, server.rp), HostedPages(server.url)
    page = relying.sign_in(browser, person).response
    for _ in range(3):
        page = submit_code(browser, page, "000000", relying.redirect_uri)
    right = pyotp.TOTP(person["secret"]).at(time.time() + 30)
    locked = submit_code(browser, page, right, relying.redirect_uri)
    assert locked.status_code == 401 and "locked" in locked.text
    return relying, browser, locked, right


def test_admin_unlock_lifts_the_hard_lock(lock_server):
    person = _enroll(lock_server)
    relying, browser, page, right = _lock(lock_server, person)
    out = json.loads(lock_server.cli("users", "unlock", person["email"]).stdout)
    assert out["unlocked"] == 1
    done = submit_code(browser, page, right, relying.redirect_uri)
    assert "code=" in done.headers["Location"]


def test_backup_code_recovery_lifts_the_hard_lock(lock_server):
    person = _enroll(lock_server)
    relying, browser, page, right = _lock(lock_server, person)
    link = re.search(r'href="(/mfa/\d+\?next=[^"]*)">\s*Use a backup code', page.text).group(1)
    backup_page = browser.get(lock_server.url + unescape(link))
    done = submit_code(browser, backup_page, person["codes"][0], relying.redirect_uri)
    assert "code=" in done.headers["Location"]
    relying, browser = RelyingParty(lock_server, lock_server.rp), HostedPages(lock_server.url)
    page = relying.sign_in(browser, person).response
    assert "code=" in submit_code(browser, page, right, relying.redirect_uri).headers["Location"]
