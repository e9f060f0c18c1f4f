"""The admin console at /admin/ on the live provider (SQLite and PostgreSQL), with any second
factor accepted (``IDP_ADMIN_REQUIRE_PASSKEY=false``; the passkey requirement has its own
module) and a user list two users a page.

Who gets in (anonymous: sign in first; no console role: 403; no second factor: add one; a
password-only session: answer one), what an auditor may do (read; every POST is 403), and
setting roles (CSRF, a recent second factor, audited with actor, before and after).
"""

from __future__ import annotations

import re
import time
from html import unescape

import pytest

from tests.admin.support import console_browser, person, roles_form, show, user_id
from tests.support.factors import password_sign_in
from tests.support.live import backend_server
from tests.support.oidc import HostedPages, csrf_token

ADMIN_WINDOW = 15  # seconds a second factor counts for a console change (slow CI included)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console(request, tmp_path_factory):
    settings = {
        "ADMIN_REQUIRE_PASSKEY": "false",
        "ADMIN_PAGE_SIZE": 2,
        "STEPUP_WINDOWS": f"admin={ADMIN_WINDOW}",
    }
    with backend_server(request, tmp_path_factory, "admin_console", **settings) as live:
        yield live


def test_anonymous_visitor_is_sent_to_sign_in_first(console):
    response = HostedPages(console.url).get(console.url + "/admin/users", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login?next=admin")


def test_signed_in_user_without_a_console_role_gets_a_friendly_403(console):
    browser = HostedPages(console.url)
    password_sign_in(browser, person(console))
    for path in ("/admin/", "/admin/users"):
        page = browser.get(console.url + path, allow_redirects=False)
        assert page.status_code == 403
        assert "No access to the admin console" in page.text and "<form" not in page.text


def test_admin_without_a_second_factor_is_told_to_add_one(console):
    browser = HostedPages(console.url)
    password_sign_in(browser, person(console, "admin"))
    page = browser.get(console.url + "/admin/", allow_redirects=False)
    assert page.status_code == 403
    assert "needs a second sign-in method" in page.text
    assert 'href="/account/security/"' in page.text


def test_auditor_reads_every_page_and_every_post_is_refused(console):
    target = person(console, "auditor")
    browser, _ = console_browser(console, "auditor")
    assert "Read-only" in browser.get(console.url + "/admin/").text
    page = browser.get(console.url + f"/admin/users/{user_id(browser, target['email'])}")
    assert page.status_code == 200 and target["email"] in page.text
    assert 'action="' not in page.text.split("Roles</h2>")[1].split("</section>")[0]
    token = csrf_token(browser.get(console.url + "/account").text)
    refused = browser.post(
        page.url + "/roles", data={"csrf_token": token, "roles": "admin"}, allow_redirects=False
    )
    assert refused.status_code == 403 and "changes nothing" in refused.text
    assert show(console, target["email"])["roles"] == ["auditor"]


def test_admin_sets_roles_in_the_console_audited_with_actor_before_and_after(console):
    target = person(console, "auditor")
    browser, admin = console_browser(console, "admin")
    page = browser.get(console.url + f"/admin/users/{user_id(browser, target['email'])}")
    assert re.search(r'value="auditor" checked', page.text)
    action, token = roles_form(page.text)
    done = browser.post(
        console.url + action,
        data={"csrf_token": token, "roles": ["admin", "auditor"]},
        allow_redirects=False,
    )
    assert done.status_code == 303, done.text[:300]
    assert "Roles set: admin, auditor." in browser.get(console.url + done.headers["Location"]).text
    shown = show(console, target["email"])
    assert shown["roles"] == ["admin", "auditor"]
    event = next(e for e in shown["recent_events"] if e["event"] == "roles_set")
    assert event["actor"] == admin["email"]
    assert event["detail"] == {"before": ["auditor"], "after": ["admin", "auditor"]}
    cleared = browser.post(console.url + action, data={"csrf_token": token})
    assert cleared.status_code == 200 and show(console, target["email"])["roles"] == []


def test_admin_cannot_take_away_their_own_admin_role_in_the_console(console):
    browser, admin = console_browser(console, "admin")
    page = browser.get(console.url + f"/admin/users/{user_id(browser, admin['email'])}")
    action, token = roles_form(page.text)
    refused = browser.post(console.url + action, data={"csrf_token": token, "roles": "auditor"})
    assert refused.status_code == 400 and "your own admin role" in unescape(refused.text)
    assert show(console, admin["email"])["roles"] == ["admin"]


def test_set_roles_without_a_csrf_token_is_refused(console):
    target = person(console)
    browser, _ = console_browser(console, "admin")
    page = browser.get(console.url + f"/admin/users/{user_id(browser, target['email'])}")
    action, _token = roles_form(page.text)
    refused = browser.post(console.url + action, data={"roles": "admin"}, allow_redirects=False)
    assert refused.status_code == 400
    assert show(console, target["email"])["roles"] == []


def test_unknown_role_in_the_form_is_refused(console):
    target = person(console)
    browser, _ = console_browser(console, "admin")
    page = browser.get(console.url + f"/admin/users/{user_id(browser, target['email'])}")
    action, token = roles_form(page.text)
    refused = browser.post(console.url + action, data={"csrf_token": token, "roles": "root"})
    assert refused.status_code == 400 and "'root' is not a valid choice" in unescape(refused.text)
    assert show(console, target["email"])["roles"] == []


def test_a_change_needs_a_second_factor_within_the_admin_window(console):
    target = person(console)
    browser, _ = console_browser(console, "admin")
    page = browser.get(console.url + f"/admin/users/{user_id(browser, target['email'])}")
    action, token = roles_form(page.text)
    time.sleep(ADMIN_WINDOW + 1)
    assert browser.get(page.url).status_code == 200  # reading needs no fresh factor
    asked = browser.post(
        console.url + action, data={"csrf_token": token, "roles": "admin"}, allow_redirects=False
    )
    assert asked.status_code == 303 and "/mfa/?next=admin" in asked.headers["Location"]
    assert show(console, target["email"])["roles"] == []


def test_user_list_searches_filters_by_role_and_pages_by_id(console):
    tag = f"l{time.time_ns()}"
    console.cli("roles", "create", tag)
    made = [
        person(console, email=f"{tag}-{i}@example.com") for i in range(5)
    ]  # ids ascending in this order
    for account in made[1:4]:
        console.cli("users", "set-roles", account["email"], tag)
    console.cli("users", "create", f"x{tag}@example.com", "--name", f"Zed {tag}",
                "--password-stdin", stdin="correct horse battery\n")  # fmt: skip
    browser, _ = console_browser(console, "auditor")

    def listed(**params) -> tuple[list[str], str | None]:
        page = browser.get(console.url + "/admin/users", params=params)
        assert page.status_code == 200
        emails = re.findall(r'href="/admin/users/\d+">([^<]+)</a>', page.text)
        following = re.search(r'href="([^"]+)" rel="next"', page.text)
        return emails, unescape(following.group(1)) if following else None

    emails, following = listed(q=tag)
    assert emails == [made[0]["email"], made[1]["email"]] and following
    seen = list(emails)
    while following:
        page = browser.get(console.url + following)
        seen += re.findall(r'href="/admin/users/\d+">([^<]+)</a>', page.text)
        match = re.search(r'href="([^"]+)" rel="next"', page.text)
        following = unescape(match.group(1)) if match else None
    assert seen == [a["email"] for a in made]  # the name "Zed ..." does not start with the tag
    assert listed(q=tag.upper() + "-3")[0] == [made[3]["email"]]  # email: any case
    assert listed(q=f"zed {tag}")[0] == [f"x{tag}@example.com"]  # name: capitalised too
    in_role, following = listed(role=tag)
    assert in_role == [made[1]["email"], made[2]["email"]] and "role=" + tag in following
    assert listed(role=tag, q=f"{tag}-3")[0] == [made[3]["email"]]
    assert listed(q="%")[0] == [] and listed(q="_")[0] == []  # LIKE wildcards are literal


def test_dashboard_counts_users_enrolment_and_sign_ins(console):
    browser, _ = console_browser(console, "auditor")
    page = browser.get(console.url + "/admin/").text
    assert "Enrolled in two-step verification" in page and "Authenticator app" in page
    figures = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)%?</dd>", page))
    assert int(figures["Users"]) >= 2 and int(figures["Last 24 hours"]) >= 1
    assert re.search(r">auditor</a></td><td>\d+</td><td>\d+</td>", page)
