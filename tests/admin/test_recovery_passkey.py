"""A recovery link's page adds a passkey too (issue 14), on the live provider (SQLite and
PostgreSQL).

In a real Chromium with a DevTools virtual authenticator: two admins approve, the user opens the
mailed link, creates a passkey on its page (``static/passkeys.js`` with the page's own calls),
gets new backup codes, and then signs in with that passkey alone while the old authenticator
app and backup codes are refused and the link is spent. Over HTTP with software
authenticators (``tests.support.webauthn``): a passkey ceremony started and an authenticator
app finished complete the request once, in either order; a policy that requires attested
passkeys is enforced on the link's page; a passkey-only policy can recover. The link's page
is photographed at 390 and 1280 px into ``/tmp/shots_c/``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser

from tests.admin.support import (
    ask,
    console_browser,
    decide,
    lost_user,
    mail_with,
    open_link,
    recovery_link,
    request_id,
    show,
)
from tests.support.attestation import CertificateAuthority, security_key
from tests.support.browser import add_virtual_authenticator, chromium_browser
from tests.support.factors import backup_code_page, password_sign_in
from tests.support.live import backend_server
from tests.support.oidc import HostedPages, csrf_token, hidden, submit_code
from tests.support.webauthn import SoftAuthenticator

SHOTS = Path("/tmp/shots_c")
AXE = Axe()  # axe-core as bundled by axe-playwright-python
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]}}
EXPIRED = "no longer works"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    settings = {"ADMIN_REQUIRE_PASSKEY": "false"}  # the admins approve over HTTP with TOTP
    with backend_server(request, tmp_path_factory, "recovery_passkey", **settings) as server:
        yield server


@pytest.fixture(scope="module")
def admins(live) -> list[tuple[HostedPages, dict]]:
    """Two admins signed in to the console: (browser, account) each."""
    return [console_browser(live, "admin"), console_browser(live, "admin")]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with chromium_browser() as browser:
        yield browser


def approved(live, admins, *roles: str) -> tuple[dict, str]:
    """A user with an authenticator app who asked for recovery (holding ``roles``), approved
    by both admins; the account and its mailed link."""
    browser, account = lost_user(live)
    if roles:
        live.cli("users", "set-roles", account["email"], *roles)
    assert ask(browser).status_code == 200
    rid = request_id(live, account, admins[0][1])
    for admin, _ in admins:
        assert decide(admin, rid).status_code == 303
    return account, recovery_link(live, account)


def link_refused(link: str) -> bool:
    page = HostedPages(link.split("/recovery/")[0]).get(link)
    return page.status_code == 400 and EXPIRED in page.text


def test_a_user_recovers_with_a_passkey_and_signs_in_with_it_alone(live, admins, chromium):
    account, link = approved(live, admins)
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    add_virtual_authenticator(page)
    page.goto(link)
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Add a new sign-in method").wait_for()
    assert page.get_by_role("heading", name="Add a passkey").is_visible()
    assert page.get_by_role("heading", name="Or add an authenticator app").is_visible()
    _photograph(page, live.backend)

    page.get_by_label("Name for this passkey").fill("Recovered key")
    page.get_by_role("button", name="Create a passkey").click()
    page.wait_for_url("**/recovery/done")
    page.get_by_role("heading", name="Your account is recovered").wait_for()
    assert "Recovered key is now your sign-in method" in page.inner_text("main")
    assert page.locator("ul.codes code").count() == 10
    page.reload()  # the codes are shown once
    assert "/login" in page.url
    assert "Recovered key is now your sign-in method" in mail_with(
        live, account["email"], "Security change on your account"
    )
    assert link_refused(link)

    factors = {(f["kind"], f["name"]): f["status"] for f in show(live, account["email"])["factors"]}
    assert factors[("passkey", "Recovered key")] == "active"
    assert factors[("totp", "Phone")] == "revoked"
    events = [e["event"] for e in show(live, account["email"])["recent_events"]]
    assert "recovery_used" in events and "recovery_link_opened" in events

    context.clear_cookies()  # signed out: the sign-in page's autofill answers with the passkey
    page.goto(live.url + "/login?next=account")
    page.wait_for_url(f"{live.url}/account/**")
    assert account["email"] in page.inner_text("main")
    context.close()
    _old_factors_refused(live, account)


def _photograph(page, backend: str) -> None:
    """The link's page at 1280 and 390 px: nothing wider than the phone's screen, and nothing
    serious or critical for axe-core (WCAG 2.0-2.2 A and AA)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 844})
        page.screenshot(path=str(SHOTS / f"recovery_enroll_{backend}_{width}.png"), full_page=True)
        scroll = page.evaluate("() => document.documentElement.scrollWidth")
        assert scroll <= width, (width, scroll)
        violations = AXE.run(page, options=AXE_OPTIONS).response["violations"]
        assert not [v["id"] for v in violations if v["impact"] in ("serious", "critical")]
    page.set_viewport_size({"width": 1280, "height": 800})


def _old_factors_refused(live, account: dict) -> None:
    """After the password: no authenticator-app step is left, and an old backup code fails."""
    browser = HostedPages(live.url)
    signed = password_sign_in(browser, account, "account")
    page = browser.follow(live.url + signed.headers["Location"], stop_at="/never")
    assert 'data-passkey="second-factor"' in page.text and 'name="code"' not in page.text
    codes = backup_code_page(browser, page)
    refused = submit_code(browser, codes, account["codes"][0], stop_at="/never")
    assert refused.status_code == 401


# --- over HTTP, with software authenticators ------------------------------------------------


def _enroll_page(browser: HostedPages):
    page = browser.get(browser.base + "/recovery/enroll")
    assert page.status_code == 200, page.text[:300]
    return page


def _passkey_options(browser: HostedPages, page) -> tuple[dict, dict]:
    headers = {"X-CSRFToken": csrf_token(page.text)}
    options = browser.post(browser.base + "/recovery/passkey/options", json={}, headers=headers)
    assert options.status_code == 200, options.text[:300]
    return options.json(), headers


def _passkey_verify(browser, options, headers, device: SoftAuthenticator, name: str = "Key"):
    credential = device.registration(options["publicKey"]["challenge"], browser.base)
    body = {"challenge": options["challenge"], "credential": credential, "name": name}
    return browser.post(browser.base + "/recovery/passkey/verify", json=body, headers=headers)


def _finish_totp(browser: HostedPages, page):
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    data = {"csrf_token": csrf_token(page.text), "challenge": hidden(page.text, "challenge"),
            "name": "New phone", "code": pyotp.TOTP(secret).now()}  # fmt: skip
    return browser.post(browser.base + "/recovery/enroll", data=data)


def _kinds(live, account: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for factor in show(live, account["email"])["factors"]:
        found.setdefault(factor["status"], []).append(factor["kind"])
    return found


def test_a_passkey_started_cannot_finish_after_an_authenticator_app_did(live, admins):
    account, link = approved(live, admins)
    browser, opened = open_link(link, account)
    assert opened.status_code == 303
    page = _enroll_page(browser)
    options, headers = _passkey_options(browser, page)
    done = _finish_totp(browser, page)
    assert done.status_code == 200 and "Your account is recovered" in done.text
    late = _passkey_verify(browser, options, headers, SoftAuthenticator())
    assert late.status_code == 400 and EXPIRED in late.json()["error"]
    assert "passkey" not in _kinds(live, account).get("active", [])
    uses = [
        e for e in show(live, account["email"])["recent_events"] if e["event"] == "recovery_used"
    ]
    assert len(uses) == 1


def test_an_authenticator_app_cannot_finish_after_a_passkey_did(live, admins):
    account, link = approved(live, admins)
    browser, _ = open_link(link, account)
    page = _enroll_page(browser)
    options, headers = _passkey_options(browser, page)
    added = _passkey_verify(browser, options, headers, SoftAuthenticator())
    assert added.status_code == 200 and added.json()["redirect"] == "/recovery/done"
    shown = browser.get(live.url + "/recovery/done")
    assert len(re.findall(r"<li><code>[A-Z0-9-]+</code></li>", shown.text)) == 10
    late = _finish_totp(browser, page)
    assert late.status_code == 400 and EXPIRED in late.text
    assert sorted(_kinds(live, account)["active"]) == ["backup_codes", "passkey"]
    assert "pending" not in _kinds(live, account)  # the unused app was abandoned


def test_a_passkey_only_user_recovers_with_a_passkey(live, admins):
    role = f"passkeys{time.time_ns()}"
    live.cli("roles", "create", role)
    live.cli("roles", "set-policy", role, "--factors", "passkey")
    account, link = approved(live, admins, role)
    browser, _ = open_link(link, account)
    page = _enroll_page(browser)
    assert "<svg" not in page.text and 'data-passkey="register"' in page.text
    options, headers = _passkey_options(browser, page)
    added = _passkey_verify(browser, options, headers, SoftAuthenticator(), "Only key")
    assert added.status_code == 200, added.text[:300]
    assert "passkey" in _kinds(live, account)["active"]


@pytest.fixture(scope="module")
def allowed_model(live, tmp_path_factory) -> tuple[CertificateAuthority, uuid.UUID]:
    vendor = CertificateAuthority("Recovery Keys Root CA")
    aaguid = uuid.uuid4()
    pem = tmp_path_factory.mktemp("roots") / "vendor.pem"
    pem.write_bytes(vendor.pem)
    live.cli("authenticators", "allow", str(aaguid), "--description", "Recovery Key",
             "--root-cert", str(pem))  # fmt: skip
    return vendor, aaguid


def test_a_policy_requiring_attested_passkeys_holds_on_the_link_page(live, admins, allowed_model):
    role = f"strict{time.time_ns()}"
    live.cli("roles", "create", role)
    out = live.cli("roles", "set-policy", role, "--require-attested-passkeys")
    assert json.loads(out.stdout)["require_attested_passkeys"] is True
    account, link = approved(live, admins, role)
    browser, _ = open_link(link, account)
    page = _enroll_page(browser)
    assert "approved security keys" in page.text
    options, headers = _passkey_options(browser, page)
    assert options["publicKey"]["attestation"] == "direct"
    unattested = _passkey_verify(browser, options, headers, SoftAuthenticator())
    assert unattested.status_code == 400 and "approved" in unattested.json()["error"]
    options, headers = _passkey_options(browser, page)  # the request is still open
    vendor, aaguid = allowed_model
    added = _passkey_verify(browser, options, headers, security_key(vendor, aaguid))
    assert added.status_code == 200, added.text[:300]
    keys = [f for f in show(live, account["email"])["factors"] if f["kind"] == "passkey"]
    assert [(k["status"], k["aaguid"]) for k in keys] == [("active", str(aaguid))]
