"""The admin console's main journeys in a real Chromium, and axe-core on every console page.

One live provider per backend (SQLite and PostgreSQL) with ``IDP_ADMIN_REQUIRE_PASSKEY`` at its
default, the realistic one: each admin registers a passkey on the security page and signs in to
the console with it, answered by a DevTools virtual authenticator. One browser serves the
module; every person (two admins, each user) has a browser context of their own, and everything
the journeys check happens by clicking and typing in the pages. Users who only need to exist
with an authenticator app are made over HTTP (``enroll_totp``): that is setup, not the journey.

Accessibility: axe-core (bundled by ``axe-playwright-python``, so no download or CDN) runs on
every console page at 1280 and 390 px wide; no violation of impact serious or critical may be
left.
"""

from __future__ import annotations

import email
import json
import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.admin.support import ask, lost_user, person, show
from tests.support.browser import add_virtual_authenticator, chromium_browser, webauthn_session
from tests.support.factors import enroll_totp, next_totp
from tests.support.live import backend_server
from tests.support.oidc import RelyingParty

NOTE_A = "Met them in person and checked their staff card."
NOTE_B = "Called them back on the number in the HR record."
WIDTHS = (1280, 390)
AXE = Axe()  # axe-core 4.x as bundled by axe-playwright-python, evaluated into each page
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
    }
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    with backend_server(request, tmp_path_factory, "console_journeys") as server:
        yield server


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with chromium_browser() as browser:
        yield browser


class Someone:
    """One person at one browser context (one tab), with a passkey authenticator."""

    def __init__(self, browser: Browser, server, account: dict) -> None:
        self.server, self.account = server, account
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page: Page = self.context.new_page()
        self.authenticator = add_virtual_authenticator(self.page)

    def presence(self, enabled: bool) -> None:
        """Off: passkey requests (the sign-in page's autofill) stay unanswered."""
        webauthn_session(self.page).send(
            "WebAuthn.setAutomaticPresenceSimulation",
            {"authenticatorId": self.authenticator, "enabled": enabled},
        )

    def type_password(self, password: str | None = None) -> None:
        """On the sign-in page: type the email and password, like a person ignoring passkeys."""
        self.page.get_by_label("Email").fill(self.account["email"])
        self.page.get_by_label("Password").fill(password or self.account["password"])
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.wait_for_url(lambda url: "/login" not in url)

    def sign_in_with_password(self, url: str) -> None:
        self.presence(False)
        self.page.goto(url)
        self.type_password()
        self.presence(True)

    def type_code(self, code: str) -> None:
        """On the second-factor page: type the authenticator app's code and verify."""
        self.page.get_by_label("Code").fill(code)
        self.page.get_by_role("button", name="Verify").click()

    def close(self) -> None:
        self.context.close()


class Admin(Someone):
    """An admin who added a passkey before getting the role, and signs in with it."""

    def __init__(self, browser: Browser, server) -> None:
        super().__init__(browser, server, server.create_user())
        self.sign_in_with_password(server.url + "/login?next=security")
        self.page.get_by_role("link", name="Add: Passkey").click()
        self.page.get_by_label("Name for this passkey").fill("Laptop")
        self.page.get_by_role("button", name="Create a passkey").click()
        self.page.wait_for_url("**/account/security/passkeys/backup-codes")
        server.cli("users", "set-roles", self.account["email"], "admin")
        self.context.clear_cookies()
        # signed out: the sign-in page's passkey autofill is answered at once (presence is on)
        self.page.goto(server.url + "/login?next=admin")
        self.page.get_by_role("heading", name="Admin console").wait_for()

    def open(self, path: str) -> None:
        self.page.goto(self.server.url + path)

    def open_user(self, email_address: str) -> None:
        """Users -> search by email -> the user's page."""
        self.open("/admin/")
        nav = self.page.get_by_role("navigation", name="Admin console")
        nav.get_by_role("link", name="Users").click()
        self.page.get_by_label("Email or name starts with").fill(email_address)
        self.page.get_by_role("button", name="Search").click()
        self.page.get_by_role("link", name=email_address).click()
        self.page.get_by_role("heading", name=email_address).wait_for()

    def approve_recovery(self, email_address: str, note: str) -> None:
        self.open("/admin/")
        nav = self.page.get_by_role("navigation", name="Admin console")
        nav.get_by_role("link", name="Recovery requests").click()
        self.page.get_by_role("link", name=email_address).click()
        self.page.get_by_label("How you checked this person's identity").fill(note)
        self.page.get_by_role("button", name="Approve").click()
        self.page.get_by_text("Approved.").first.wait_for()


@pytest.fixture(scope="module")
def admin_a(live, chromium) -> Iterator[Admin]:
    admin = Admin(chromium, live)
    yield admin
    admin.close()


@pytest.fixture(scope="module")
def admin_b(live, chromium) -> Iterator[Admin]:
    admin = Admin(chromium, live)
    yield admin
    admin.close()


@pytest.fixture()
def someone(live, chromium):
    """A person at a browser of their own; the test gives them their account."""
    made: list[Someone] = []

    def make(account: dict) -> Someone:
        made.append(Someone(chromium, live, account))
        return made[-1]

    yield make
    for one in made:
        one.close()


def new_role(server) -> str:
    name = f"team{time.time_ns()}"
    server.cli("roles", "create", name)
    return name


def outbox(server, to: str, subject: str) -> str:
    """The newest mail to ``to`` with ``subject``, from the development outbox."""
    messages = [
        email.message_from_bytes(p.read_bytes()) for p in sorted(server.instance.glob("outbox/*"))
    ]
    found = [m for m in messages if m["To"] == to and m["Subject"] == subject]
    assert found, f"no mail {subject!r} to {to}"
    return found[-1].get_payload(decode=True).decode()


# --- the journeys ------------------------------------------------------------------------------


def test_a_stricter_role_policy_makes_its_member_enroll_at_the_next_sign_in(live, admin_a, someone):
    role = new_role(live)
    member = someone(person(live, role))
    page = admin_a.page
    admin_a.open("/admin/")
    page.get_by_role("navigation", name="Admin console").get_by_role(
        "link", name="MFA policy"
    ).click()
    page.get_by_role("link", name=role, exact=True).click()
    page.get_by_label("Required: asked at every sign-in, added at the next one").check()
    page.get_by_label("Sign-ins a member may postpone adding a method").fill("0")
    page.get_by_label("Days a member may postpone adding a method").fill("0")
    page.get_by_role("button", name="Preview the change").click()
    preview = page.get_by_role("status").filter(has_text="What this change does")
    assert "1 of them has no allowed second factor" in " ".join(preview.inner_text().split())
    assert json.loads(live.cli("policy", "show").stdout)["roles"][role]["mode"] != "required"
    page.get_by_role("button", name="Save this policy").click()
    page.get_by_text(f"Saved the policy of the role {role}.").wait_for()
    assert json.loads(live.cli("policy", "show").stdout)["roles"][role]["mode"] == "required"

    client = live.create_client("--name", "Journey app", "--redirect-uri", "http://localhost:9/cb")
    url, *_ = RelyingParty(live, client).authorization_url()
    member.sign_in_with_password(url)
    member.page.get_by_role("heading", name="Set up two-step verification").wait_for()
    assert member.page.get_by_text("Your organisation requires two-step verification").is_visible()
    assert member.page.get_by_role("button", name="Not now").count() == 0


def test_an_admin_gives_a_user_a_role_on_the_user_page(live, admin_a):
    role = new_role(live)
    account = person(live)
    admin_a.open_user(account["email"])
    page = admin_a.page
    page.get_by_role("group", name="Roles of this user").get_by_label(role, exact=True).check()
    page.get_by_role("button", name="Set roles").click()
    page.get_by_text(f"Roles set: {role}.").wait_for()
    assert show(live, account["email"])["roles"] == [role]


def test_a_revoked_authenticator_app_code_is_refused_at_the_next_sign_in(live, admin_a, someone):
    """The user is at the code page of a sign-in when the admin revokes the app: the code is
    refused, and a later sign-in does not ask for it any more."""
    account = enroll_totp(live)
    user = someone(account)
    user.sign_in_with_password(live.url + "/login?next=account")
    user.page.get_by_role("heading", name="Two-step verification").wait_for()

    admin_a.open_user(account["email"])
    factors = admin_a.page.get_by_role("region", name="Sign-in methods")
    factors.get_by_role("button", name=re.compile(r"^Revoke Phone")).click()
    row = admin_a.page.get_by_role("region", name="Sign-in methods").get_by_role(
        "row", name="Phone"
    )
    assert "revoked" in row.inner_text()

    with user.page.expect_response(lambda r: r.request.method == "POST") as answer:
        user.type_code(next_totp(account))
    assert answer.value.status == 404, answer.value.status  # no active factor of that id

    user.context.clear_cookies()
    user.sign_in_with_password(live.url + "/login?next=account")
    assert user.page.get_by_label("Code").count() == 0


def test_two_admins_recover_a_user_who_lost_their_authenticator_app(
    live, admin_a, admin_b, someone
):
    account = enroll_totp(live)
    user = someone(account)
    user.sign_in_with_password(live.url + "/login?next=account")
    user.page.get_by_role("link", name="Lost access to all your sign-in methods?").click()
    user.page.get_by_role("button", name="Request recovery").click()
    user.page.get_by_role("heading", name="Recovery requested").wait_for()

    admin_a.approve_recovery(account["email"], NOTE_A)
    assert "approved once" in admin_a.page.inner_text("main")
    admin_b.approve_recovery(account["email"], NOTE_B)
    decisions = admin_b.page.get_by_role("region", name="Decisions").inner_text()
    assert NOTE_A in decisions and NOTE_B in decisions

    body = outbox(live, account["email"], "Recover your account")
    link = re.search(r"(http://\S+/recovery/link/\S+)", body).group(1)
    user.context.clear_cookies()
    user.page.goto(link)
    user.page.get_by_label("Password").fill(account["password"])
    user.page.get_by_role("button", name="Continue").click()
    user.page.get_by_role("heading", name="Add an authenticator app").wait_for()
    secret = user.page.locator("code.secret").first.inner_text()
    user.page.get_by_label("Name for this authenticator").fill("New phone")
    user.page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    user.page.get_by_role("button", name="Turn on").click()
    user.page.get_by_role("heading", name="Your account is recovered").wait_for()

    user.page.get_by_role("link", name="Done, sign in now").click()
    user.presence(False)
    user.type_password()
    user.type_code(pyotp.TOTP(secret).at(time.time() + 30))
    user.page.wait_for_url(live.url + "/account/**")
    assert account["email"] in user.page.inner_text("main")


def test_the_audit_log_filtered_by_event_and_user_exports_just_those_rows(live, admin_a, someone):
    account = person(live)
    user = someone(account)
    user.sign_in_with_password(live.url + "/login")
    user.context.clear_cookies()
    user.sign_in_with_password(live.url + "/login")

    admin_a.open("/admin/audit")
    page = admin_a.page
    page.get_by_label("Event", exact=True).fill("sign_in")
    page.get_by_label("User's email").fill(account["email"])
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == 2, page.inner_text("main")[:500]
    with page.expect_download() as download:
        page.get_by_role("link", name="Export JSON Lines").click()
    lines = download.value.path().read_text().splitlines()
    exported = [json.loads(line) for line in lines]
    assert [row["event"] for row in exported] == ["sign_in", "sign_in"]
    assert {row["subject"] for row in exported} == {account["sub"]}
    shown = [int(seq) for seq in rows.locator("th").all_inner_texts()]
    assert [row["seq"] for row in exported] == shown


# --- accessibility ------------------------------------------------------------------------------


def console_pages(live, admin: Admin) -> list[tuple[str, str]]:
    """(name, path) of every console page, with records on it to show: a user with an
    authenticator app who asked for recovery, and a role whose policy is previewed."""
    browser, lost = lost_user(live)
    assert ask(browser).status_code == 200
    pages = [
        ("dashboard", "/admin/"),
        ("users", "/admin/users"),
        ("policy list", "/admin/policy"),
        ("operation windows", "/admin/policy/windows"),
        ("audit log", "/admin/audit"),
        ("authenticators", "/admin/authenticators"),
        ("recovery list", "/admin/recovery"),
        ("policy edit", f"/admin/policy/roles/{new_role(live)}"),
        ("clients", "/admin/clients"),
        ("new client", "/admin/clients/new"),
        ("client", f"/admin/clients/{checked_client(live)}"),
    ]
    admin.open("/admin/recovery")
    admin.page.get_by_role("link", name=lost["email"]).click()
    pages.append(("recovery request", admin.page.url.removeprefix(live.url)))
    admin.open_user(lost["email"])
    pages.append(("user", admin.page.url.removeprefix(live.url)))
    return pages


def checked_client(live) -> str:
    made = live.create_client("--name", "Checked app", "--redirect-uri", "http://localhost:9/cb")
    return made["client_id"]


def serious(page: Page) -> list[str]:
    """axe-core's violations of impact serious or critical, one line each."""
    results = AXE.run(page, options=AXE_OPTIONS).response
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def overflow(page: Page) -> list[str]:
    """The page scrolls sideways as a whole (tables may scroll inside their own box)."""
    wide = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    return ["the page is wider than the window"] if wide else []


def test_every_console_page_has_no_serious_accessibility_violation_at_either_width(live, admin_a):
    """axe-core (WCAG 2.0-2.2 A and AA rules) finds nothing serious or critical, and no page is
    wider than a 390 px phone; the policy page is checked with its preview shown."""
    page = admin_a.page
    found: dict[str, list[str]] = {}
    for name, path in console_pages(live, admin_a):
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            admin_a.open(path)
            if name == "policy edit":
                page.get_by_role("button", name="Preview the change").click()
                page.get_by_role("heading", name="What this change does").wait_for()
            found[f"{name} at {width}px"] = serious(page) + overflow(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    assert not {key: value for key, value in found.items() if value}, json.dumps(found, indent=1)
