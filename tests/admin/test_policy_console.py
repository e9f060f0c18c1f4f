"""The console's MFA policy pages on the live provider (SQLite and PostgreSQL): an admin changes a
role's policy, sees first how many members it will ask to enroll, saves exactly what was
previewed, and a member of that role is then sent to add a second factor at the next sign-in.
"""

from __future__ import annotations

import json
import re
import time
from html import unescape

import pytest

from tests.admin.support import console_browser, person
from tests.support.live import backend_server
from tests.support.oidc import HostedPages, RelyingParty, csrf_token, hidden

KINDS = ("totp", "passkey", "email", "sms")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console(request, tmp_path_factory):
    settings = {"ADMIN_REQUIRE_PASSKEY": "false"}
    with backend_server(request, tmp_path_factory, "admin_policy", **settings) as live:
        yield live


@pytest.fixture(scope="module")
def admin(console):
    return console_browser(console, "admin")[0]


def new_role(server) -> str:
    name = f"billing{time.time_ns()}"
    server.cli("roles", "create", name)
    return name


def role_policy(server, name: str) -> dict:
    return json.loads(server.cli("policy", "show").stdout)["roles"][name]


def policy_form(page_html: str, **changes) -> dict:
    """The form's values as shown, with ``changes``."""
    data = {
        "csrf_token": csrf_token(page_html),
        "previewed": hidden(page_html, "previewed"),
        "mode": next(
            re.search(r'value="(\w+)"', tag).group(1)
            for tag in re.findall(r'<input[^>]*name="mode"[^>]*>', page_html)
            if " checked" in tag
        ),
        "factors": re.findall(r'name="factors" value="(\w+)" checked', page_html),
        "factor_max_age": "0",
        "grace_signins": "0",
        "grace_days": "0",
    }
    data.update(changes)
    return data


def test_a_required_policy_is_previewed_then_saved_and_its_members_must_enroll(console, admin):
    name = new_role(console)
    members = [person(console, name) for _ in range(2)]
    page = admin.get(console.url + f"/admin/policy/roles/{name}")
    assert page.status_code == 200 and "MFA policy of the role " + name in page.text

    previewed = admin.post(page.url, data=policy_form(page.text, mode="required", preview="1"))
    assert previewed.status_code == 200
    text = re.sub(r"\s+", " ", unescape(previewed.text))
    assert "This policy covers 2 users (the members of " + name + ")." in text
    assert (
        "<strong>2</strong> of them have no allowed second factor and will be asked to add one "
        "at their next sign-in" in text
    )
    assert role_policy(console, name)["mode"] == "off"  # a preview changes nothing

    saved = admin.post(
        page.url, data={**policy_form(previewed.text, mode="required"), "save": "1"},
        allow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303, saved.text[:300]
    assert role_policy(console, name)["mode"] == "required"
    events = json.loads(console.cli("users", "show", members[0]["email"]).stdout)
    assert events["roles"] == [name]

    client = console.create_client(
        "--name", "Policy RP", "--redirect-uri", "http://localhost:9/cb", "--first-party"
    )
    result = RelyingParty(console, client).sign_in(HostedPages(console.url), members[0])
    assert "/enroll" in result.response.url and not result.location
    assert "requires two-step verification" in result.response.text


def test_save_applies_only_the_values_previewed(console, admin):
    name = new_role(console)
    person(console, name)
    page = admin.get(console.url + f"/admin/policy/roles/{name}")
    previewed = admin.post(page.url, data=policy_form(page.text, mode="recommended", preview="1"))
    assert "will be offered to add one at sign-in" in previewed.text
    # The admin switches to "required" and presses Save without looking at its effect.
    changed = {**policy_form(previewed.text, mode="required"), "save": "1"}
    response = admin.post(page.url, data=changed, allow_redirects=False)
    assert response.status_code == 200 and "will be asked to add one" in response.text
    assert role_policy(console, name)["mode"] == "off"


def test_allowed_methods_and_limits_are_saved_and_audited(console, admin):
    name = new_role(console)
    page = admin.get(console.url + f"/admin/policy/roles/{name}")
    values = policy_form(
        page.text, mode="required", factors=["totp", "passkey"], factor_max_age="600",
        grace_signins="2", grace_days="7",
    )  # fmt: skip
    previewed = admin.post(page.url, data={**values, "preview": "1"})
    values["previewed"] = hidden(previewed.text, "previewed")
    saved = admin.post(page.url, data={**values, "save": "1"}, allow_redirects=False)
    assert saved.status_code == 303
    stored = role_policy(console, name)
    assert stored["factors"] == ["passkey", "totp"] and stored["factor_max_age"] == 600
    assert (stored["grace_signins"], stored["grace_days"]) == (2, 7)
    assert stored["remember_device"] is False  # the box was not ticked in this form


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"factors": []}, "Tick at least one method."),
        ({"factors": ["totp", "carrier-pigeon"]}, "'carrier-pigeon' is not a valid choice"),
        ({"grace_days": "-1"}, "Number must be between"),
        ({"mode": "sometimes"}, "Not a valid choice"),
    ],
)
def test_bad_values_are_refused_and_change_nothing(console, admin, changes, error):
    name = new_role(console)
    page = admin.get(console.url + f"/admin/policy/roles/{name}")
    response = admin.post(page.url, data={**policy_form(page.text, **changes), "save": "1"})
    assert response.status_code == 400 and error in unescape(response.text)
    assert role_policy(console, name)["mode"] == "off"


def test_without_a_csrf_token_nothing_changes(console, admin):
    name = new_role(console)
    page = admin.get(console.url + f"/admin/policy/roles/{name}")
    data = {**policy_form(page.text, mode="required", preview="1"), "csrf_token": ""}
    assert admin.post(page.url, data=data).status_code == 400
    assert role_policy(console, name)["mode"] == "off"


def test_the_default_policy_covers_everyone(console, admin):
    page = admin.get(console.url + "/admin/policy/default")
    previewed = admin.post(page.url, data=policy_form(page.text, mode="recommended", preview="1"))
    users = int(re.search(r"This policy covers (\d+) user", previewed.text).group(1))
    listed = len(console.cli("users", "list").stdout.splitlines())
    assert users == listed


def test_an_auditor_reads_the_policies_and_cannot_change_them(console):
    auditor, _ = console_browser(console, "auditor")
    name = new_role(console)
    listing = auditor.get(console.url + "/admin/policy")
    assert listing.status_code == 200 and name in listing.text
    page = auditor.get(console.url + f"/admin/policy/roles/{name}")
    assert page.status_code == 200 and '<form method="post"' not in page.text
    token = csrf_token(auditor.get(console.url + "/account").text)
    refused = auditor.post(page.url, data={"csrf_token": token, "mode": "required"})
    assert refused.status_code == 403
    assert role_policy(console, name)["mode"] == "off"


def test_an_unknown_role_is_a_404(console, admin):
    assert admin.get(console.url + "/admin/policy/roles/no-such-role").status_code == 404


# --- a new role, made in the console ----------------------------------------------------------


def create_role(browser, base: str, name: str, description: str = "", token: str | None = None):
    page = browser.get(base + "/admin/policy")
    data = {"csrf_token": csrf_token(page.text) if token is None else token,
            "name": name, "description": description}  # fmt: skip
    return browser.post(base + "/admin/policy/roles", data=data, allow_redirects=False)


def roles_listed(server) -> dict:
    lines = server.cli("roles", "list").stdout.splitlines()
    return {row["name"]: row for row in map(json.loads, lines)}


def name_error(page_html: str) -> str:
    """The error shown right below the name field (which says it is invalid)."""
    found = re.search(
        r'<input[^>]*aria-invalid="true"[^>]*name="name"[^>]*>\s*'
        r'<p class="error" id="name-error">([^<]*)</p>',
        page_html,
    )
    assert found, page_html
    return unescape(found.group(1))


def test_an_admin_creates_a_role_and_lands_on_its_policy_page(console, admin):
    name = f"support.tier-2:{time.time_ns()}"
    made = create_role(admin, console.url, name, "First-line support")
    assert made.status_code == 303
    assert made.headers["Location"] == f"/admin/policy/roles/{name}"
    page = admin.get(console.url + made.headers["Location"])
    assert f"Created the role {name}." in unescape(page.text)
    assert roles_listed(console)[name]["description"] == "First-line support"
    assert role_policy(console, name)["mode"] == "off"
    exported = admin.get(console.url + "/admin/audit/export", params={"event": "role_created"})
    rows = [json.loads(line) for line in exported.text.splitlines()]
    [row] = [r for r in rows if r["detail"]["role"] == name]
    account = admin.get(console.url + "/account/").text
    assert row["actor"] == re.search(r"Signed in as <strong>([^<]+)</strong>", account).group(1)


def test_a_taken_role_name_is_refused_next_to_the_field(console, admin):
    name = new_role(console)
    refused = create_role(admin, console.url, name, "again")
    assert refused.status_code == 400
    assert name_error(refused.text) == f"Not created: role '{name}' exists."
    assert roles_listed(console)[name]["description"] == ""


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("two words", "Use 1 to 64 letters, digits or the signs _ . : -"),
        ("-leading", "start with a letter or digit"),
        ("x" * 65, "Use 1 to 64 letters"),
        ("", "Give the role a name."),
    ],
)
def test_an_invalid_role_name_is_refused_next_to_the_field(console, admin, name, error):
    before = roles_listed(console)
    refused = create_role(admin, console.url, name)
    assert refused.status_code == 400 and error in name_error(refused.text)
    assert roles_listed(console) == before


def test_a_role_is_not_created_without_a_csrf_token_or_by_an_auditor(console, admin):
    name = f"nope{time.time_ns()}"
    assert create_role(admin, console.url, name, token="").status_code == 400
    auditor, _ = console_browser(console, "auditor")
    listing = auditor.get(console.url + "/admin/policy")
    assert 'action="/admin/policy/roles"' not in listing.text
    token = csrf_token(auditor.get(console.url + "/account").text)
    assert create_role(auditor, console.url, name, token=token).status_code == 403
    assert name not in roles_listed(console)
