"""Recovery that needs two people (issue 14), on the live provider (SQLite and PostgreSQL).

A user who lost their authenticator app asks for recovery after the password step; every admin
is mailed; two different admins record how they checked the user's identity and approve; the
user is mailed a single-use link that, with their password, lets them add a new authenticator
app and nothing else; then the old factor, remembered browsers and sessions are gone. Mail is
read from the provider's outbox (``instance/outbox``), as an operator would in development.
"""

from __future__ import annotations

import json
import re
import time
from html import unescape

import pyotp
import pytest

from tests.admin.support import RECOVERY_NOTE as NOTE
from tests.admin.support import (
    ask,
    console_browser,
    decide,
    lost_user,
    mail_with,
    mails,
    open_link,
    recovery_link,
    request_id,
    user_id,
)
from tests.support.factors import enroll_totp, next_totp, password_sign_in
from tests.support.live import backend_server
from tests.support.oidc import HostedPages, authorization_params, csrf_token, hidden, submit_code

LINK_TTL = 8  # seconds a recovery link works here


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    settings = {"ADMIN_REQUIRE_PASSKEY": "false", "RECOVERY_LINK_TTL": LINK_TTL}
    with backend_server(request, tmp_path_factory, "recovery", **settings) as server:
        yield server


@pytest.fixture(scope="module")
def admins(live):
    """Two admins, signed in to the console, and an auditor."""
    first, first_account = console_browser(live, "admin")
    second, second_account = console_browser(live, "admin")
    auditor, _ = console_browser(live, "auditor")
    return {"a": (first, first_account), "b": (second, second_account), "auditor": auditor}


def approved_link(live, admins, account: dict, rid: int) -> str:
    assert decide(admins["a"][0], rid).status_code == 303
    assert decide(admins["b"][0], rid).status_code == 303
    return recovery_link(live, account)


def enroll_new_totp(browser: HostedPages):
    """On the recovery's enrollment page: add an authenticator app; returns (secret, page)."""
    page = browser.get(browser.base + "/recovery/enroll")
    assert page.status_code == 200 and "<svg" in page.text, page.text[:300]
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    data = {
        "csrf_token": csrf_token(page.text),
        "challenge": hidden(page.text, "challenge"),
        "name": "New phone",
        "code": pyotp.TOTP(secret).now(),
    }
    return secret, browser.post(browser.base + "/recovery/enroll", data=data)


def remembered_browser(live, account: dict) -> HostedPages:
    """A browser fully signed in as ``account`` that asked to be remembered."""
    browser = HostedPages(live.url)
    signed = password_sign_in(browser, account, "account")
    page = browser.follow(live.url + signed.headers["Location"], stop_at="/never")
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    data = {"csrf_token": csrf_token(page.text), "challenge": hidden(page.text, "challenge"),
            "next": "account", "code": next_totp(account), "remember": "y"}  # fmt: skip
    assert browser.post(live.url + action, data=data, allow_redirects=False).status_code == 303
    assert browser.get(live.url + "/account/", allow_redirects=False).status_code == 200
    return browser


def test_two_admins_recover_a_user_who_lost_their_authenticator(live, admins):
    browser, account = lost_user(live)
    other_session = remembered_browser(live, account)
    mfa_page = browser.get(live.url + "/mfa/")
    assert "Lost access to all your sign-in methods?" in mfa_page.text
    explained = browser.get(live.url + "/recovery/")
    assert "Two administrators check your identity" in explained.text
    asked = ask(browser)
    assert asked.status_code == 200 and "Your administrators were told" in asked.text
    assert "already requested" in browser.get(live.url + "/recovery/").text
    again = browser.post(live.url + "/recovery/", data={"csrf_token": csrf_token(explained.text)})
    assert again.status_code == 200 and "already requested" in again.text
    admin_a, a = admins["a"]
    admin_b, b = admins["b"]
    rid = request_id(live, account, a)
    assert request_id(live, account, b) == rid
    assert mail_with(live, account["email"], "Account recovery requested")
    assert "recovery_requested" in events(admin_a, account)

    dashboard = admin_a.get(live.url + "/admin/").text
    assert 'href="/admin/recovery">Recovery requests' in dashboard
    assert int(re.search(r"<dt>Open recovery requests</dt><dd>(\d+)</dd>", dashboard)[1]) >= 1
    listed = admin_a.get(live.url + "/admin/recovery")
    assert account["email"] in listed.text and f"/admin/recovery/{rid}" in listed.text
    assert decide(admin_a, rid).status_code == 303
    page = admin_a.get(live.url + f"/admin/recovery/{rid}")
    assert "approved once" in page.text and NOTE in page.text and a["email"] in page.text
    assert not [m for m in mails(live, account["email"]) if m["Subject"] == "Recover your account"]
    twice = decide(admin_a, rid)
    assert twice.status_code == 403 and "different admin must approve" in twice.text

    assert decide(admin_b, rid).status_code == 303
    link = recovery_link(live, account)
    recovering, opened = open_link(link, account)
    assert opened.status_code == 303 and opened.headers["Location"].endswith("/recovery/enroll")
    secret, done = enroll_new_totp(recovering)
    assert done.status_code == 200 and "Your account is recovered" in done.text
    assert len(re.findall(r"<li><code>[A-Z0-9-]+</code></li>", done.text)) == 10
    assert 'href="/login">Done, sign in now' in done.text
    assert "Your account was recovered" in mail_with(
        live, account["email"], "Security change on your account"
    )

    assert open_link_refused(link)
    ended = other_session.get(live.url + "/account/", allow_redirects=False)
    assert ended.status_code in (302, 303) and "/login" in ended.headers["Location"]
    password_sign_in(other_session, account, "account")
    forgotten = other_session.get(live.url + "/account/", allow_redirects=False)
    assert forgotten.status_code == 302 and "/mfa" in forgotten.headers["Location"]
    recorded = events(admin_a, account)
    for event in ("recovery_approved", "recovery_link_opened", "recovery_used", "factor_revoked",
                  "trusted_device_revoked", "session_ended"):  # fmt: skip
        assert event in recorded, event
    _sign_in_with_new_factor_only(live, account, secret)


def events(admin: HostedPages, account: dict) -> str:
    """The recent events the console shows on ``account``'s page."""
    page = admin.get(admin.base + f"/admin/users/{user_id(admin, account['email'])}").text
    return page.split('id="events-h"')[1]


def open_link_refused(link: str) -> bool:
    page = HostedPages(link.split("/recovery/")[0]).get(link)
    return page.status_code == 400 and "no longer works" in page.text


def _sign_in_with_new_factor_only(live, account: dict, new_secret: str) -> None:
    browser = HostedPages(live.url)
    signed = password_sign_in(browser, account, "account")
    page = browser.follow(live.url + signed.headers["Location"], stop_at="/never")
    assert "Two-step verification" in page.text
    old = submit_code(browser, page, next_totp(account), stop_at="/never")
    assert old.status_code == 401
    new = pyotp.TOTP(new_secret).at(time.time() + 30)
    done = submit_code(browser, old, new, stop_at="/never")
    assert done.status_code == 200 and account["email"] in done.text, done.text[:300]


def test_the_recovery_page_needs_the_password_step_in_this_browser(live):
    page = HostedPages(live.url).get(live.url + "/recovery/", allow_redirects=False)
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    refused = HostedPages(live.url).post(live.url + "/recovery/", allow_redirects=False)
    assert refused.status_code in (302, 400)


def test_admin_cannot_approve_a_request_for_their_own_account(live, admins):
    admin_browser, admin = admins["a"]
    mine = HostedPages(live.url)
    assert password_sign_in(mine, admin).status_code == 303
    assert ask(mine).status_code == 200
    rid = request_id(live, admin, admins["b"][1])
    page = admin_browser.get(live.url + f"/admin/recovery/{rid}")
    assert page.status_code == 200 and "approve_recovery" not in page.text
    assert 'action="/admin/recovery/' not in page.text
    token = csrf_token(admin_browser.get(live.url + "/account/").text)
    refused = admin_browser.post(
        live.url + f"/admin/recovery/{rid}/approve", data={"csrf_token": token, "note": NOTE}
    )
    assert refused.status_code == 403 and "your own account" in refused.text
    assert "requested" in admin_browser.get(live.url + f"/admin/recovery/{rid}").text
    assert decide(admins["b"][0], rid, action="deny").status_code == 303
    assert mail_with(live, admin["email"], "Account recovery denied")


def test_approval_without_a_note_is_refused(live, admins):
    browser, account = lost_user(live)
    ask(browser)
    rid = request_id(live, account, admins["a"][1])
    refused = decide(admins["a"][0], rid, note="   ")
    assert refused.status_code == 400 and "Say how you checked their identity" in refused.text
    page = admins["a"][0].get(live.url + f"/admin/recovery/{rid}")
    assert "None yet." in page.text


def test_auditor_cannot_approve(live, admins):
    browser, account = lost_user(live)
    ask(browser)
    rid = request_id(live, account, admins["a"][1])
    page = admins["auditor"].get(live.url + f"/admin/recovery/{rid}")
    assert (
        page.status_code == 200 and account["email"] in page.text and "<textarea" not in page.text
    )
    token = csrf_token(admins["auditor"].get(live.url + "/account/").text)
    refused = admins["auditor"].post(
        live.url + f"/admin/recovery/{rid}/approve", data={"csrf_token": token, "note": NOTE},
        allow_redirects=False,
    )  # fmt: skip
    assert refused.status_code == 403 and "changes nothing" in refused.text
    assert "None yet." in admins["a"][0].get(live.url + f"/admin/recovery/{rid}").text


def test_approval_without_the_csrf_token_is_refused(live, admins):
    browser, account = lost_user(live)
    ask(browser)
    rid = request_id(live, account, admins["a"][1])
    refused = admins["a"][0].post(
        live.url + f"/admin/recovery/{rid}/approve", data={"note": NOTE}, allow_redirects=False
    )
    assert refused.status_code == 400
    assert "None yet." in admins["a"][0].get(live.url + f"/admin/recovery/{rid}").text
    unasked = browser.post(live.url + "/recovery/", data={}, allow_redirects=False)
    assert unasked.status_code == 400


def test_an_expired_link_is_refused(live, admins):
    browser, account = lost_user(live)
    ask(browser)
    link = approved_link(live, admins, account, request_id(live, account, admins["a"][1]))
    time.sleep(LINK_TTL + 1)
    assert open_link_refused(link)


def test_a_wrong_password_does_not_spend_the_link(live, admins):
    browser, account = lost_user(live)
    ask(browser)
    link = approved_link(live, admins, account, request_id(live, account, admins["a"][1]))
    _, wrong = open_link(link, account, password="not the password")
    assert wrong.status_code == 401
    _, right = open_link(link, account)
    assert right.status_code == 303


def test_the_link_state_opens_nothing_but_the_enrollment(live, admins):
    rp = live.create_client("--name", "Recovery RP", "--redirect-uri", "http://localhost:9/cb",
                            "--first-party")  # fmt: skip
    browser, account = lost_user(live)
    ask(browser)
    link = approved_link(live, admins, account, request_id(live, account, admins["a"][1]))
    recovering, opened = open_link(link, account)
    assert opened.status_code == 303
    for path in ("/account/", "/account/security/", "/account/security/totp", "/admin/"):
        page = recovering.get(live.url + path, allow_redirects=False)
        assert page.status_code in (302, 303), path
        assert "/login" in page.headers["Location"], path
    params = authorization_params(rp)
    asked = recovering.get(live.url + "/authorize", params=params, allow_redirects=False)
    assert asked.status_code in (302, 303)
    assert "/login" in asked.headers["Location"] and "code=" not in asked.headers["Location"]
    secret, done = enroll_new_totp(recovering)
    assert done.status_code == 200
    after = recovering.get(live.url + "/account/", allow_redirects=False)
    assert after.status_code in (302, 303) and "/login" in after.headers["Location"]
    assert recovering.get(live.url + "/recovery/enroll").status_code == 400


def test_a_password_reset_still_asks_for_the_second_factor(live):
    account = enroll_totp(live)
    browser = HostedPages(live.url)
    page = browser.get(live.url + "/password/forgot")
    browser.post(live.url + "/password/forgot",
                 data={"csrf_token": csrf_token(page.text), "email": account["email"]})  # fmt: skip
    text = mail_with(live, account["email"], "Reset your password")
    link = unescape(re.search(r"(http://\S+/password/reset/\S+)", text).group(1))
    form = browser.get(link)
    new = {
        "csrf_token": csrf_token(form.text),
        "password": "a new long pw",
        "confirm": "a new long pw",
    }
    assert browser.post(link, data=new, allow_redirects=False).status_code == 303
    again = HostedPages(live.url)
    assert password_sign_in(again, {**account, "password": "a new long pw"}).status_code == 303
    asked = again.get(live.url + "/account/", allow_redirects=False)
    assert asked.status_code == 302 and "/mfa" in asked.headers["Location"]


def test_the_cli_twin_lists_and_approves_under_the_same_rules(live, admins):
    browser, account = lost_user(live)
    ask(browser)
    rid = request_id(live, account, admins["a"][1])
    listed = [json.loads(line) for line in live.cli("recovery", "list").stdout.splitlines()]
    assert {"id": rid, "email": account["email"], "status": "requested"}.items() <= next(
        row for row in listed if row["id"] == rid
    ).items()
    a, b = admins["a"][1]["email"], admins["b"][1]["email"]
    nobody = live.cli("recovery", "approve", str(rid), "--note", NOTE, "--as", account["email"],
                      check=False)  # fmt: skip
    assert nobody.returncode != 0 and "admin role" in nobody.stderr
    first = json.loads(live.cli("recovery", "approve", str(rid), "--note", NOTE, "--as", a).stdout)
    assert first["status"] == "approved_once" and not first["link_sent"]
    twice = live.cli("recovery", "approve", str(rid), "--note", NOTE, "--as", a, check=False)
    assert twice.returncode != 0 and "different admin" in twice.stderr
    blank = live.cli("recovery", "approve", str(rid), "--note", " ", "--as", b, check=False)
    assert blank.returncode != 0 and "--note" in blank.stderr
    final = json.loads(live.cli("recovery", "approve", str(rid), "--note", NOTE, "--as", b).stdout)
    assert final["status"] == "approved" and final["link_sent"]
    assert recovery_link(live, account).startswith(live.url + "/recovery/link/")


def test_the_user_withdraws_a_request_and_may_ask_again(live, admins):
    browser, account = lost_user(live)
    ask(browser)
    rid = request_id(live, account, admins["a"][1])
    page = browser.get(live.url + "/recovery/")
    withdrawn = browser.post(
        live.url + "/recovery/cancel", data={"csrf_token": csrf_token(page.text)}
    )
    assert withdrawn.status_code == 200 and "was withdrawn" in withdrawn.text
    assert "cancelled" in admins["a"][0].get(live.url + f"/admin/recovery/{rid}").text
    again = ask(browser)
    assert again.status_code == 200 and "Your administrators were told" in again.text
    assert request_id(live, account, admins["a"][1]) != rid


def test_an_admin_takes_back_an_unused_link(live, admins):
    browser, account = lost_user(live)
    ask(browser)
    rid = request_id(live, account, admins["a"][1])
    link = approved_link(live, admins, account, rid)
    assert "Take back the link" in admins["a"][0].get(live.url + f"/admin/recovery/{rid}").text
    cancelled = decide(admins["a"][0], rid, action="cancel", note="Approved the wrong person.")
    assert cancelled.status_code == 303
    assert open_link_refused(link)
    assert "cancelled" in admins["a"][0].get(live.url + f"/admin/recovery/{rid}").text


def test_a_user_whose_policy_allows_neither_kind_is_told_before_the_link_is_spent(live, admins):
    browser, account = lost_user(live)
    role = f"smsonly{time.time_ns()}"
    live.cli("roles", "create", role)
    live.cli("roles", "set-policy", role, "--factors", "sms")
    live.cli("users", "set-roles", account["email"], role)
    ask(browser)
    link = approved_link(live, admins, account, request_id(live, account, admins["a"][1]))
    for _ in range(2):
        page = HostedPages(live.url).get(link)
        assert page.status_code == 403 and "Contact your administrator" in page.text


def test_a_passkey_only_user_is_offered_a_passkey_and_nothing_else(live, admins):
    browser, account = lost_user(live)
    role = f"passkeys{time.time_ns()}"
    live.cli("roles", "create", role)
    live.cli("roles", "set-policy", role, "--factors", "passkey")
    live.cli("users", "set-roles", account["email"], role)
    ask(browser)
    link = approved_link(live, admins, account, request_id(live, account, admins["a"][1]))
    recovering, opened = open_link(link, account)
    assert opened.status_code == 303
    page = recovering.get(live.url + "/recovery/enroll")
    assert page.status_code == 200 and 'data-passkey="register"' in page.text
    assert "/recovery/passkey/options" in page.text and "<svg" not in page.text
    posted = recovering.post(live.url + "/recovery/enroll", data={
        "csrf_token": csrf_token(page.text), "name": "App", "code": "123456"})  # fmt: skip
    assert posted.status_code == 400 and "Your account is recovered" not in posted.text
