"""The console's actions on one user (issue 14) on the live provider, SQLite and PostgreSQL:
revoke a second factor or all of them, forget a remembered browser, end every session,
unlock, disable and enable, mail a reset link, and an MFA override. Each is proved by what
the user or their relying app meets next, each is audited with the admin as actor, and every
one is refused to an auditor and without a CSRF token.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import requests

from tests.admin.actions_support import mailed_link, sign_in_status, tokens
from tests.admin.support import console_browser, person, show, user_id
from tests.support.factors import enroll_soft_passkey, enroll_totp, next_totp, password_sign_in
from tests.support.live import backend_server
from tests.support.oidc import HostedPages, RelyingParty, csrf_token, hidden, submit_code

CALLBACK = "http://localhost:9/cb"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console(request, tmp_path_factory):
    settings = {
        "ADMIN_REQUIRE_PASSKEY": "false",
        "LOCKOUT_THRESHOLD": 3,
        "BACKOFF_AFTER": 50,
        "PASSWORD_BACKOFF_AFTER": 2,
        "PASSWORD_BACKOFF_FIRST": 600,
        "STEPUP_WINDOWS": "admin=3600",
    }
    with backend_server(request, tmp_path_factory, "user_actions", **settings) as live:
        live.rp = live.create_client(
            "--name", "RP", "--redirect-uri", CALLBACK, "--first-party"
        )  # fmt: skip
        yield live


@pytest.fixture(scope="module")
def admin(console):
    """The admin's browser on the console, and the admin."""
    return console_browser(console, "admin")


def _page(console, admin, target: dict):
    browser, _ = admin
    page = browser.get(console.url + f"/admin/users/{user_id(browser, target['email'])}")
    assert page.status_code == 200, page.text[:300]
    return page


def _post(console, admin, target: dict, path: str, **data):
    """POST one of the user page's actions (``path`` after /admin/users/ID) with the page's
    CSRF token."""
    browser, _ = admin
    page = _page(console, admin, target)
    data = {"csrf_token": csrf_token(page.text), **data}
    return browser.post(page.url + path, data=data, allow_redirects=False)


def _events(console, target: dict, event: str) -> list[dict]:
    return [e for e in show(console, target["email"])["recent_events"] if e["event"] == event]


def _factor(console, target: dict, kind: str) -> dict:
    return next(f for f in show(console, target["email"])["factors"] if f["kind"] == kind)


def _code_page(console, target: dict):
    """A sign-in through the relying app, stopped on the second-factor page."""
    relying, browser = RelyingParty(console, console.rp), HostedPages(console.url)
    page = relying.sign_in(browser, target).response
    assert page.status_code == 200 and 'name="code"' in page.text, page.text[:300]
    return relying, browser, page


def test_revoked_totp_is_refused_at_sign_in_and_audited(console, admin):
    target = enroll_totp(console, person(console))
    relying, browser, page = _code_page(console, target)
    totp = _factor(console, target, "totp")
    page_html = _page(console, admin, target).text
    assert f"/factors/{totp['id']}/revoke" in page_html

    done = _post(console, admin, target, f"/factors/{totp['id']}/revoke")

    assert done.status_code == 303, done.text[:300]
    assert _factor(console, target, "totp")["status"] == "revoked"
    assert _factor(console, target, "backup_codes")["status"] == "revoked"  # no factor left
    refused = submit_code(browser, page, next_totp(target), stop_at=relying.redirect_uri)
    assert "code=" not in refused.headers.get("Location", "")
    revoked = [e for e in _events(console, target, "factor_revoked") if e["actor"] != "cli"]
    assert {(e["actor"], e["detail"]["before"], e["detail"]["after"]) for e in revoked} == {
        (admin[1]["email"], "active", "revoked")
    }
    assert {e["detail"]["reason"] for e in revoked} == {"by_admin", "no factor left"}


def test_revoking_all_factors_needs_the_box_ticked_then_refuses_every_code(console, admin):
    target = enroll_totp(console, person(console))
    relying, browser, page = _code_page(console, target)

    unticked = _post(console, admin, target, "/factors/reset")
    assert unticked.status_code == 400 and "Tick the box to confirm." in unticked.text
    assert _factor(console, target, "totp")["status"] == "active"

    done = _post(console, admin, target, "/factors/reset", confirm="y")
    assert done.status_code == 303
    assert {f["status"] for f in show(console, target["email"])["factors"]} == {"revoked"}
    refused = submit_code(browser, page, next_totp(target), stop_at=relying.redirect_uri)
    assert "code=" not in refused.headers.get("Location", "")
    reset = _events(console, target, "factors_reset")
    assert reset[0]["actor"] == admin[1]["email"] and reset[0]["detail"]["after"] == []
    assert len(reset[0]["detail"]["before"]) == 2  # the app and the backup codes


def test_forget_a_remembered_browser_and_end_every_session(console, admin):
    target = enroll_totp(console, person(console))
    relying, browser, page = _code_page(console, target)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    data = {"csrf_token": csrf_token(page.text), "challenge": hidden(page.text, "challenge"),
            "next": hidden(page.text, "next"), "code": next_totp(target),
            "remember": "y"}  # fmt: skip
    answered = browser.post(console.url + unescape(action), data=data, allow_redirects=False)
    assert answered.status_code == 303 and browser.cookies.get("idp_device")
    remembered = show(console, target["email"])["remembered_browsers"]
    assert len(remembered) == 1 and "id" in remembered[0]
    assert browser.get(console.url + "/account/", allow_redirects=False).status_code == 200

    forgot = _post(console, admin, target, f"/browsers/{remembered[0]['id']}/forget")
    assert forgot.status_code == 303
    assert show(console, target["email"])["remembered_browsers"] == []
    assert _events(console, target, "trusted_device_revoked")[0]["actor"] == admin[1]["email"]
    assert _post(console, admin, target, "/browsers/999999/forget").status_code == 404

    ended = _post(console, admin, target, "/sessions/end")
    assert ended.status_code == 303
    assert show(console, target["email"])["sessions"] == []
    assert browser.get(console.url + "/account/", allow_redirects=False).status_code == 302
    assert _events(console, target, "session_ended")[0]["actor"] == admin[1]["email"]


def test_unlock_lifts_the_factor_lock_and_the_password_wait(console, admin):
    target = enroll_totp(console, person(console))
    relying, browser, page = _code_page(console, target)
    for _ in range(3):
        page = submit_code(browser, page, "000000", relying.redirect_uri)
    assert _factor(console, target, "totp")["locked"] is True
    for _ in range(2):
        assert sign_in_status(console, target, "wrong password").status_code in (401, 429)
    assert sign_in_status(console, target).status_code == 429

    done = _post(console, admin, target, "/unlock")

    assert done.status_code == 303
    flashed = browser_text(admin, console.url + done.headers["Location"])
    assert "1 locked sign-in method(s) unlocked and the wait on the password lifted" in flashed
    assert _factor(console, target, "totp")["locked"] is False
    assert sign_in_status(console, target).status_code == 303
    assert _events(console, target, "factor_unlocked")[0]["actor"] == admin[1]["email"]
    cleared = _events(console, target, "password_backoff_cleared")[0]
    assert cleared["actor"] == admin[1]["email"]
    assert cleared["detail"] == {"before": "waiting", "after": "cleared"}


def browser_text(admin, url: str) -> str:
    return unescape(admin[0].get(url).text)


def test_disabled_account_cannot_sign_in_and_its_tokens_stop_working(console, admin):
    target = person(console)
    relying, issued = tokens(console, console.rp, target)
    assert "refresh_token" in issued

    done = _post(console, admin, target, "/disable", reason="left the company")

    assert done.status_code == 303
    refreshed = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    for value in (issued["access_token"], issued["refresh_token"]):
        introspected = relying.post(relying.meta["introspection_endpoint"], {"token": value})
        assert introspected.json() == {"active": False}
    userinfo = requests.get(
        relying.meta["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + issued["access_token"]},
        timeout=30,
    )
    assert userinfo.status_code == 401
    right = sign_in_status(console, target)
    assert right.status_code == 403
    assert "This account is disabled. Contact your administrator." in unescape(right.text)
    wrong = sign_in_status(console, target, "wrong password")
    assert wrong.status_code == 401 and "disabled" not in wrong.text  # guessers learn nothing
    shown = show(console, target["email"])
    assert shown["disabled_at"] and shown["disabled_reason"] == "left the company"
    event = _events(console, target, "account_disabled")[0]
    assert event["actor"] == admin[1]["email"]
    assert event["detail"]["before"] == {"disabled": False, "reason": None}
    assert event["detail"]["after"] == {"disabled": True, "reason": "left the company"}
    assert "left the company" in _page(console, admin, target).text
    listed = admin[0].get(console.url + "/admin/users", params={"q": target["email"]}).text
    assert "(disabled)" in listed

    enabled = _post(console, admin, target, "/enable")

    assert enabled.status_code == 303
    assert sign_in_status(console, target).status_code == 303
    assert show(console, target["email"])["disabled_at"] is None
    assert _events(console, target, "account_enabled")[0]["detail"]["after"] == {
        "disabled": False, "reason": None,
    }  # fmt: skip
    assert tokens(console, console.rp, target)[1]["access_token"]


def _passwordless(console, credential, sign_count: int) -> requests.Response:
    """A passwordless passkey sign-in on the login page's JSON endpoints."""
    browser = requests.Session()
    headers = {"X-CSRFToken": csrf_token(browser.get(console.url + "/login", timeout=10).text)}
    options = browser.post(console.url + "/login/passkey/options", json={}, headers=headers)
    challenge = options.json()["publicKey"]["challenge"]
    answer = credential.assertion(challenge, console.url, sign_count=sign_count)
    return browser.post(
        console.url + "/login/passkey/verify", json={"credential": answer}, headers=headers
    )


def test_disabled_account_is_refused_a_passwordless_passkey_sign_in(console, admin):
    target = person(console)
    browser = HostedPages(console.url)
    password_sign_in(browser, target, "security")
    credential = enroll_soft_passkey(browser, target["sub"])
    assert _post(console, admin, target, "/disable").status_code == 303

    refused = _passwordless(console, credential, 1)

    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "This account is disabled. Contact your administrator."
    assert _post(console, admin, target, "/enable").status_code == 303
    assert _passwordless(console, credential, 2).status_code == 200


def test_admin_cannot_disable_themselves_in_the_console(console, admin):
    me = admin[1]
    refused = _post(console, admin, me, "/disable", reason="oops")
    assert refused.status_code == 400 and "cannot disable your own account" in refused.text
    assert show(console, me["email"])["disabled_at"] is None


def test_mailed_reset_link_works_once_and_the_second_factor_is_still_asked(console, admin):
    target = enroll_totp(console, person(console))
    before = time.time()

    done = _post(console, admin, target, "/reset-link")

    assert done.status_code == 303
    link = mailed_link(console, target["email"], before)
    browser = HostedPages(console.url)
    page = browser.get(link)
    new = {"csrf_token": csrf_token(page.text), "password": "brand new pass",
           "confirm": "brand new pass"}  # fmt: skip
    assert browser.post(link, data=new, allow_redirects=False).status_code == 303
    assert browser.get(link).status_code == 400  # single use
    relying = RelyingParty(console, console.rp)
    result = relying.sign_in(HostedPages(console.url), {**target, "password": "brand new pass"})
    assert 'name="code"' in result.response.text and "code=" not in result.location
    requested = _events(console, target, "password_reset_requested")[0]
    assert requested["actor"] == admin[1]["email"]


def test_mfa_override_is_set_shown_and_cleared(console, admin):
    target = person(console)
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    missing = _post(console, admin, target, "/override", kind="exempt", until=day)
    assert missing.status_code == 400 and "Give a reason" in missing.text
    past = _post(console, admin, target, "/override", kind="exempt", until="2000-01-01",
                 reason="travel")  # fmt: skip
    assert past.status_code == 400 and "in the future" in past.text

    done = _post(console, admin, target, "/override", kind="exempt", until=day, reason="travel")

    assert done.status_code == 303
    assert show(console, target["email"])["override"]["kind"] == "exempt"
    assert "Exempt until" in _page(console, admin, target).text
    event = _events(console, target, "policy_override_set")[0]
    assert event["actor"] == admin[1]["email"] and event["detail"]["before"] is None
    assert event["detail"]["after"]["reason"] == "travel"
    assert _post(console, admin, target, "/override/clear").status_code == 303
    assert show(console, target["email"])["override"] is None


ACTIONS = [
    "/factors/{factor}/revoke", "/factors/reset", "/browsers/1/forget", "/sessions/end",
    "/unlock", "/disable", "/enable", "/reset-link", "/override", "/override/clear",
]  # fmt: skip


def test_auditor_is_refused_every_action(console):
    target = enroll_totp(console, person(console))
    factor = _factor(console, target, "totp")["id"]
    browser, _ = console_browser(console, "auditor")
    page = browser.get(console.url + f"/admin/users/{user_id(browser, target['email'])}")
    assert "Disable account" not in page.text and "Revoke" not in page.text
    token = csrf_token(browser.get(console.url + "/account").text)
    for path in ACTIONS:
        refused = browser.post(
            page.url + path.format(factor=factor),
            data={"csrf_token": token, "confirm": "y", "reason": "x"},
            allow_redirects=False,
        )
        assert refused.status_code == 403 and "changes nothing" in refused.text, path
    shown = show(console, target["email"])
    assert shown["disabled_at"] is None and _factor(console, target, "totp")["status"] == "active"


def test_every_action_without_a_csrf_token_is_refused(console, admin):
    target = enroll_totp(console, person(console))
    factor = _factor(console, target, "totp")["id"]
    page = _page(console, admin, target)
    for path in ACTIONS:
        refused = admin[0].post(
            page.url + path.format(factor=factor), data={"confirm": "y"}, allow_redirects=False
        )
        assert refused.status_code == 400, path
    shown = show(console, target["email"])
    assert shown["disabled_at"] is None and _factor(console, target, "totp")["status"] == "active"
