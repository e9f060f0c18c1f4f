"""The CLI twins of the console's user actions (``idp users revoke-factor``, ``reset-factors``,
``forget-browser``, ``disable``, ``enable``, ``send-reset-link``, and ``unlock`` clearing the
password wait), against the live provider on SQLite and PostgreSQL, audited with ``cli``."""

from __future__ import annotations

import json
import re
import time
from html import unescape

import pytest
import requests

from tests.admin.actions_support import mailed_link, sign_in_status, tokens
from tests.admin.support import person, show
from tests.support.factors import enroll_totp, next_totp
from tests.support.oidc import HostedPages, RelyingParty, csrf_token, hidden, submit_code


@pytest.fixture(scope="module")
def client(server):
    return server.create_client(
        "--name", "Actions RP", "--redirect-uri", "http://localhost:9/actions", "--first-party"
    )  # fmt: skip


def _cli(server, *args: str) -> dict:
    return json.loads(server.cli("users", *args).stdout)


def _factor(server, account: dict, kind: str) -> dict:
    return next(f for f in show(server, account["email"])["factors"] if f["kind"] == kind)


def _events(server, account: dict, event: str) -> list[dict]:
    return [e for e in show(server, account["email"])["recent_events"] if e["event"] == event]


def _code_page(server, client: dict, account: dict):
    relying, browser = RelyingParty(server, client), HostedPages(server.url)
    page = relying.sign_in(browser, account).response
    assert 'name="code"' in page.text, page.text[:300]
    return relying, browser, page


def test_revoke_factor_refuses_the_code_at_sign_in_and_is_audited(server, client):
    account = enroll_totp(server, person(server))
    relying, browser, page = _code_page(server, client, account)
    totp = _factor(server, account, "totp")

    out = _cli(server, "revoke-factor", account["email"], str(totp["id"]))

    assert out == {"email": account["email"], "revoked": totp["id"], "kind": "totp"}
    refused = submit_code(browser, page, next_totp(account), stop_at=relying.redirect_uri)
    assert "code=" not in refused.headers.get("Location", "")
    event = _events(server, account, "factor_revoked")[-1]
    assert event["actor"] == "cli" and event["detail"]["factor_id"] == totp["id"]
    assert (event["detail"]["before"], event["detail"]["after"]) == ("active", "revoked")
    again = server.cli("users", "revoke-factor", account["email"], str(totp["id"]), check=False)
    assert again.returncode == 1 and "has no active sign-in method" in again.stderr


def test_reset_factors_revokes_every_factor(server):
    account = enroll_totp(server, person(server))
    out = _cli(server, "reset-factors", account["email"])
    assert len(out["revoked"]) == 2
    assert {f["status"] for f in show(server, account["email"])["factors"]} == {"revoked"}
    assert _events(server, account, "factors_reset")[0]["actor"] == "cli"


def test_forget_browser_forgets_a_remembered_browser(server, client):
    account = enroll_totp(server, person(server))
    _, browser, page = _code_page(server, client, account)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    data = {"csrf_token": csrf_token(page.text), "challenge": hidden(page.text, "challenge"),
            "next": hidden(page.text, "next"), "code": next_totp(account),
            "remember": "y"}  # fmt: skip
    assert browser.post(server.url + unescape(action), data=data, allow_redirects=False).ok
    remembered = show(server, account["email"])["remembered_browsers"]
    assert len(remembered) == 1

    out = _cli(server, "forget-browser", account["email"], str(remembered[0]["id"]))

    assert out["forgotten"] == remembered[0]["id"]
    assert show(server, account["email"])["remembered_browsers"] == []
    assert _events(server, account, "trusted_device_revoked")[0]["actor"] == "cli"
    missing = server.cli("users", "forget-browser", account["email"], "999999", check=False)
    assert missing.returncode == 1 and "no remembered browser" in missing.stderr


def test_disable_refuses_sign_in_and_tokens_and_enable_restores_sign_in(server, client):
    account = person(server)
    relying, issued = tokens(server, client, account)

    out = _cli(server, "disable", account["email"], "--reason", "on leave")

    assert out == {"email": account["email"], "disabled": True, "changed": True}
    assert _cli(server, "disable", account["email"])["changed"] is False
    refreshed = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
    )
    assert refreshed.json()["error"] == "invalid_grant"
    introspected = relying.post(
        relying.meta["introspection_endpoint"], {"token": issued["access_token"]}
    )
    assert introspected.json() == {"active": False}
    userinfo = requests.get(
        relying.meta["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + issued["access_token"]},
        timeout=30,
    )
    assert userinfo.status_code == 401
    assert sign_in_status(server, account).status_code == 403
    event = _events(server, account, "account_disabled")[0]
    assert event["actor"] == "cli" and event["detail"]["after"]["reason"] == "on leave"

    assert _cli(server, "enable", account["email"])["changed"] is True
    assert sign_in_status(server, account).status_code == 303
    assert _events(server, account, "account_enabled")[0]["actor"] == "cli"


def test_send_reset_link_mails_the_forgot_password_link(server):
    account = person(server)
    before = time.time()

    assert _cli(server, "send-reset-link", account["email"])["sent"] is True

    link = mailed_link(server, account["email"], before)
    browser = HostedPages(server.url)
    page = browser.get(link)
    new = {"csrf_token": csrf_token(page.text), "password": "another new pass",
           "confirm": "another new pass"}  # fmt: skip
    assert browser.post(link, data=new, allow_redirects=False).status_code == 303
    assert sign_in_status(server, account, "another new pass").status_code == 303
    assert _events(server, account, "password_reset_requested")[0]["actor"] == "cli"


def test_unlock_also_ends_the_password_wait(server):
    account = person(server)
    for _ in range(5):  # IDP_PASSWORD_BACKOFF_AFTER's default
        sign_in_status(server, account, "wrong password")

    out = _cli(server, "unlock", account["email"])

    assert out == {"email": account["email"], "unlocked": 0, "password_backoff_cleared": True}
    assert _cli(server, "unlock", account["email"])["password_backoff_cleared"] is False
    assert _events(server, account, "password_backoff_cleared")[0]["actor"] == "cli"
