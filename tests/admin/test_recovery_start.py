"""An admin starts a recovery on a user's behalf (issue 14), from the console's user page and
from ``idp recovery start``, on the live provider (SQLite and PostgreSQL).

The request is audited with the admin as the actor and their note; the user is mailed that it
was started and by whom it will be reviewed, with nothing usable in the mail; it still needs
two approvals, the starting admin's counting as at most one of them; nobody starts one for
their own account; starting again shows the open request.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.admin.support import (
    RECOVERY_NOTE,
    console_browser,
    decide,
    mail_with,
    mails,
    open_link,
    person,
    recovery_link,
    show,
    user_id,
)
from tests.support.factors import enroll_totp
from tests.support.live import backend_server
from tests.support.oidc import HostedPages, csrf_token

WHY = "They phoned the help desk from the number on record: phone lost, backup codes too."


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    settings = {"ADMIN_REQUIRE_PASSKEY": "false"}
    with backend_server(request, tmp_path_factory, "recovery_start", **settings) as server:
        yield server


@pytest.fixture(scope="module")
def admins(live) -> dict:
    """Two admins signed in to the console, and an auditor: (browser, account) each."""
    return {
        "a": console_browser(live, "admin"),
        "b": console_browser(live, "admin"),
        "auditor": console_browser(live, "auditor"),
    }


def start(browser: HostedPages, uid: int, note: str = WHY):
    page = browser.get(browser.base + f"/admin/users/{uid}")
    data = {"csrf_token": csrf_token(page.text), "note": note}
    return browser.post(
        browser.base + f"/admin/users/{uid}/recovery", data=data, allow_redirects=False
    )


def started_id(response) -> int:
    assert response.status_code == 303, response.text[:300]
    return int(re.search(r"/admin/recovery/(\d+)$", response.headers["Location"]).group(1))


def events(live, email: str, name: str) -> list[dict]:
    return [e for e in show(live, email)["recent_events"] if e["event"] == name]


def test_an_admin_starts_a_recovery_from_the_user_page_and_two_admins_approve(live, admins):
    (admin_a, a), (admin_b, _) = admins["a"], admins["b"]
    account = enroll_totp(live)
    uid = user_id(admin_a, account["email"])
    page = admin_a.get(live.url + f"/admin/users/{uid}")
    assert "Start a recovery" in page.text
    rid = started_id(start(admin_a, uid))

    shown = admin_a.get(live.url + f"/admin/recovery/{rid}")
    assert "Recovery started" in shown.text and "requested" in shown.text
    [started] = events(live, account["email"], "recovery_started")
    assert started["actor"] == a["email"] and started["detail"]["note"] == WHY
    told = mail_with(live, account["email"], "Account recovery started")
    assert a["email"] in told and "Two administrators" in told
    assert "http" not in told and "/recovery/" not in told  # nothing usable in it
    assert f"/admin/recovery/{rid}" in mail_with(
        live, admins["b"][1]["email"], "Account recovery waiting for approval"
    )

    again = start(admin_b, uid, "Second call about the same person.")
    assert started_id(again) == rid
    assert "already has an open recovery" in admin_b.get(live.url + f"/admin/recovery/{rid}").text
    assert len(events(live, account["email"], "recovery_started")) == 1

    assert decide(admin_a, rid).status_code == 303  # the starter may approve once
    assert not [m for m in mails(live, account["email"]) if m["Subject"] == "Recover your account"]
    twice = decide(admin_a, rid)
    assert twice.status_code == 403 and "different admin must approve" in twice.text
    assert decide(admin_b, rid).status_code == 303
    browser, opened = open_link(recovery_link(live, account), account)
    assert opened.status_code == 303 and opened.headers["Location"].endswith("/recovery/enroll")


def test_an_admin_cannot_start_a_recovery_for_their_own_account(live, admins):
    admin_a, a = admins["a"]
    uid = user_id(admin_a, a["email"])
    assert "Start a recovery" not in admin_a.get(live.url + f"/admin/users/{uid}").text
    refused = start(admin_a, uid)
    assert refused.status_code == 403 and "your own account" in refused.text
    assert not events(live, a["email"], "recovery_started")


def test_starting_needs_a_note_and_the_admin_role(live, admins):
    account = person(live)
    uid = user_id(admins["a"][0], account["email"])
    blank = start(admins["a"][0], uid, note="  ")
    assert blank.status_code == 400 and "Say why you start this recovery" in blank.text
    reader = admins["auditor"][0]
    assert "Start a recovery" not in reader.get(live.url + f"/admin/users/{uid}").text
    token = csrf_token(reader.get(live.url + "/account/").text)
    data = {"csrf_token": token, "note": WHY}
    url = live.url + f"/admin/users/{uid}/recovery"
    auditor = reader.post(url, data=data, allow_redirects=False)
    assert auditor.status_code == 403 and "changes nothing" in auditor.text
    assert not events(live, account["email"], "recovery_started")


def test_the_cli_starts_a_recovery_under_the_same_rules(live, admins):
    a, b = admins["a"][1]["email"], admins["b"][1]["email"]
    account = enroll_totp(live)

    def cli(*args: str, check: bool = True):
        return live.cli("recovery", "start", *args, check=check)

    nobody = cli(account["email"], "--note", WHY, "--as", account["email"], check=False)
    assert nobody.returncode != 0 and "admin role" in nobody.stderr
    blank = cli(account["email"], "--note", " ", "--as", a, check=False)
    assert blank.returncode != 0 and "--note" in blank.stderr
    mine = cli(a, "--note", WHY, "--as", a, check=False)
    assert mine.returncode != 0 and "your own account" in mine.stderr

    first = json.loads(cli(account["email"], "--note", WHY, "--as", a).stdout)
    assert first["status"] == "requested" and first["created"] is True
    again = json.loads(cli(account["email"], "--note", WHY, "--as", b).stdout)
    assert again["id"] == first["id"] and again["created"] is False
    [started] = events(live, account["email"], "recovery_started")
    assert started["actor"] == a and started["detail"]["note"] == WHY
    assert a in mail_with(live, account["email"], "Account recovery started")

    rid = str(first["id"])
    one = json.loads(
        live.cli("recovery", "approve", rid, "--note", RECOVERY_NOTE, "--as", a).stdout
    )
    assert one["status"] == "approved_once" and not one["link_sent"]
    two = json.loads(
        live.cli("recovery", "approve", rid, "--note", RECOVERY_NOTE, "--as", b).stdout
    )
    assert two["status"] == "approved" and two["link_sent"]
    assert recovery_link(live, account).startswith(live.url + "/recovery/link/")
