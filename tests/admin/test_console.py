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

import pyotp
import pytest
from sqlalchemy import event, insert, select

from idp.accounts import admin_view
from idp.extensions import db
from idp.models import Role, User
from idp.models.user import user_roles
from tests.admin.support import console_browser, person, roles_form, show, user_id
from tests.support.factors import enroll_totp, password_sign_in
from tests.support.live import backend_server
from tests.support.migrations import upgraded_app
from tests.support.oidc import HostedPages, csrf_token, hidden, submit_code

ADMIN_WINDOW = 15  # seconds a second factor counts for a console change (slow CI included)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console(request, tmp_path_factory):
    settings = {
        "ADMIN_REQUIRE_PASSKEY": "false",
        "ADMIN_PAGE_SIZE": 2,
        "STEPUP_WINDOWS": f"admin={ADMIN_WINDOW}",
        "ADMIN_DASHBOARD_TTL": 0,  # the dashboard test counts what the tests before it made
        "LOCKOUT_THRESHOLD": 2,  # two wrong codes lock a factor
        "PASSWORD_BACKOFF_AFTER": 1,  # one wrong password: password sign-in waits an hour
        "PASSWORD_BACKOFF_FIRST": 3600,
        "PASSWORD_BACKOFF_MAX": 3600,
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


def test_user_list_filters_by_two_step_verification_state_across_pages(console):
    """Each state lists exactly its users, alone or with a prefix and a role, page by page (two
    a page), the "Next page" link keeping the filter: none (no active second factor), enrolled,
    in grace (a required enrollment postponed), locked (a factor locked by wrong codes, or
    password sign-in waiting after a wrong password)."""
    tag = f"m{time.time_ns()}"
    required = _role(console, tag, "--mode", "required", "--grace-signins", "3")
    made = [person(console, email=f"{tag}-{i}@example.com") for i in range(7)]  # id order
    enroll_totp(console, made[1])
    enroll_totp(console, made[6])
    console.cli("users", "set-roles", made[0]["email"], required)
    console.cli("users", "set-roles", made[1]["email"], required)
    console.cli("users", "set-roles", made[5]["email"], required)
    _postpone_enrollment(console, made[2], required)
    _lock_totp(console, enroll_totp(console, made[3]), "auditor", required)
    _wrong_password(console, made[4])
    browser, _ = console_browser(console, "auditor")

    def walked(**params) -> list[int]:
        page = browser.get(console.url + "/admin/users", params=params)
        assert page.status_code == 200
        seen = re.findall(r'href="/admin/users/\d+">([^<]+)</a>', page.text)
        while match := re.search(r'href="([^"]+)" rel="next"', page.text):
            assert f"mfa={params['mfa']}" in match.group(1) or params["mfa"] == "unknown"
            page = browser.get(console.url + unescape(match.group(1)))
            seen += re.findall(r'href="/admin/users/\d+">([^<]+)</a>', page.text)
        return [int(e.split("@")[0].rsplit("-", 1)[1]) for e in seen]

    assert walked(q=tag, mfa="none") == [0, 2, 4, 5]
    assert walked(q=tag, mfa="enrolled") == [1, 3, 6]
    assert walked(q=tag, mfa="grace") == [2]
    assert walked(q=tag, mfa="locked") == [3, 4]
    assert walked(q=tag, role=required, mfa="none") == [0, 2, 5]
    assert walked(q=tag, role=required, mfa="enrolled") == [1, 3]
    assert walked(role=required, mfa="grace") == [2]
    assert walked(role=required, mfa="locked") == [3]
    assert walked(q=f"{tag}-4", mfa="locked") == [4]
    assert walked(q=tag, mfa="unknown") == list(range(7))  # a hand-made link: any state
    form = browser.get(console.url + "/admin/users", params={"mfa": "grace"}).text
    assert '<label for="mfa">Two-step verification</label>' in form
    assert '<option value="grace" selected>In grace</option>' in form


def _role(console, tag: str, *policy: str) -> str:
    name = f"r{tag}"
    console.cli("roles", "create", name)
    console.cli("roles", "set-policy", name, *policy)
    return name


def _postpone_enrollment(console, account: dict, role: str) -> None:
    """``account`` (given ``role``, which requires a second factor with a grace) signs in and
    answers "Not now" on the enrollment page: the grace begins."""
    console.cli("users", "set-roles", account["email"], role)
    browser = HostedPages(console.url)
    assert password_sign_in(browser, account).status_code == 303
    page = browser.get(console.url + "/enroll/")
    assert "Not now" in page.text, page.text[:400]
    skipped = browser.post(
        console.url + "/enroll/skip",
        data={"csrf_token": csrf_token(page.text), "next": hidden(page.text, "next")},
        allow_redirects=False,
    )  # fmt: skip
    assert skipped.status_code == 303, skipped.text[:400]


def _lock_totp(console, account: dict, *roles: str) -> None:
    """Two wrong codes (``IDP_LOCKOUT_THRESHOLD=2``) at the console's second-factor step lock
    ``account``'s authenticator app."""
    console.cli("users", "set-roles", account["email"], *roles)
    browser = HostedPages(console.url)
    password_sign_in(browser, account)
    asked = browser.get(console.url + "/admin/", allow_redirects=False)
    page = browser.follow(console.url + asked.headers["Location"], stop_at="/never")
    for _ in range(2):
        right = pyotp.TOTP(account["secret"]).now()
        page = submit_code(browser, page, str((int(right) + 1) % 10**6).zfill(6), "/never")
        assert page.status_code == 401, page.text[:400]  # refused, the form shown again


def _wrong_password(console, account: dict) -> None:
    """One wrong password (``IDP_PASSWORD_BACKOFF_AFTER=1``): password sign-in waits."""
    refused = password_sign_in(HostedPages(console.url), {**account, "password": "wrong guess"})
    assert refused.status_code != 303


def test_dashboard_counts_users_enrolment_and_sign_ins(console):
    browser, _ = console_browser(console, "auditor")
    page = browser.get(console.url + "/admin/").text
    assert "Enrolled in two-step verification" in page and "Authenticator app" in page
    figures = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)%?</dd>", page))
    assert int(figures["Users"]) >= 2 and int(figures["Last 24 hours"]) >= 1
    assert re.search(r">auditor</a></td><td>\d+</td><td>\d+</td>", page)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_common_prefix_pages_in_id_order_exactly_like_a_rare_one(tmp_path, request, backend):
    """Past ``COMMON`` matches, a prefix is tested row by row along the id order (or the role's
    members) instead of gathered from its indexes; both ways list exactly the users whose
    email or name starts with it, in id order, without a duplicate or a gap across pages."""
    with upgraded_app(tmp_path, request, backend, "search_common"):
        people = _many_users(2 * admin_view.COMMON + 300)
        cases = [("a", "", True), ("a", "crew", True), ("ann1", "", False),
                 ("ann1", "crew", False), ("Ann 2", "", False), ("zed", "crew", True)]  # fmt: skip
        for query, role, common in cases:
            expected = [
                u["id"] for u in people
                if (not role or u["crew"]) and _starts(u, query)
            ]  # fmt: skip
            walked, statements = _walk_search(query, role)
            assert walked == expected, (query, role)
            assert len(expected) > 50 and len(statements) > 3  # several pages
            assert any("substr" in s.lower() for s in statements) == common, (query, role)


def _many_users(count: int) -> list[dict]:
    """``count`` users in id order: a third with emails ``ann<i>@``, a third named ``Ann <i>``
    (email ``bo<i>@``), a third ``Zed`` (email ``zed<i>@``); every fifth in role ``crew``."""
    shapes = (("ann{}@example.com", "Person"), ("bo{}@example.com", "Ann {}"),
              ("zed{}@example.com", "Zed"))  # fmt: skip
    rows = [
        {"email": shapes[i % 3][0].format(i), "name": shapes[i % 3][1].format(i),
         "password_hash": "-"}
        for i in range(count)
    ]  # fmt: skip
    db.session.execute(insert(User), rows)
    crew = Role(name="crew")
    db.session.add(crew)
    db.session.flush()
    ids = db.session.execute(select(User.id, User.email).order_by(User.id)).all()
    people = [{"id": i, "email": e, "name": r["name"], "crew": n % 5 == 0}
              for n, ((i, e), r) in enumerate(zip(ids, rows, strict=True))]  # fmt: skip
    members = [{"user_id": p["id"], "role_id": crew.id} for p in people if p["crew"]]
    db.session.execute(insert(user_roles), members)
    db.session.commit()
    return people


def _starts(user: dict, query: str) -> bool:
    names = (query, query[:1].upper() + query[1:])
    return user["email"].startswith(query.lower()) or user["name"].startswith(names)


def _walk_search(query: str, role: str) -> tuple[list[int], list[str]]:
    """Every page of ``admin_view.search`` (50 a page), and the statements it sent."""
    statements: list[str] = []

    def record(conn, cursor, statement, *_):
        statements.append(statement)

    ids: list[int] = []
    after: int | None = 0
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        while after is not None:
            page = admin_view.search(query, role, after=after, limit=50)
            assert len(page.users) <= 50
            ids += [u.id for u in page.users]
            after = page.next_after
            assert after is None or after == ids[-1]
            db.session.remove()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return ids, statements
