"""A hard-locked factor is lifted by an administrator or by a successful recovery."""

from __future__ import annotations

import json
import time

import pyotp
import pytest

from tests.support.factors import backup_code_page, enroll_totp
from tests.support.live import make_server
from tests.support.oidc import HostedPages, RelyingParty, submit_code


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
    person = enroll_totp(lock_server)
    relying, browser, page, right = _lock(lock_server, person)
    out = json.loads(lock_server.cli("users", "unlock", person["email"]).stdout)
    assert out["unlocked"] == 1
    done = submit_code(browser, page, right, relying.redirect_uri)
    assert "code=" in done.headers["Location"]


def test_backup_code_recovery_lifts_the_hard_lock(lock_server):
    person = enroll_totp(lock_server)
    relying, browser, page, right = _lock(lock_server, person)
    backup_page = backup_code_page(browser, page)
    done = submit_code(browser, backup_page, person["codes"][0], relying.redirect_uri)
    assert "code=" in done.headers["Location"]
    relying, browser = RelyingParty(lock_server, lock_server.rp), HostedPages(lock_server.url)
    page = relying.sign_in(browser, person).response
    assert "code=" in submit_code(browser, page, right, relying.redirect_uri).headers["Location"]
