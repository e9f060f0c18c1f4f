"""A real Chromium steps up from the demo app's Billing page with a passkey (virtual authenticator).

The person registers a passkey at the provider, forgets the browser's cookies, and signs in to the
demo app once with password + passkey, asking the provider to remember this browser. After signing
out and in again, the remembered browser skips the routine passkey step, so the demo's session is
password-only (acr ``urn:idp:acr:pwd``). Billing needs ``urn:idp:acr:mfa``: the demo sends the
browser to the provider with ``acr_values``, the provider asks for the passkey only (no password:
the sign-in session is still there; a remembered browser does not meet an explicit acr request),
and the browser comes back to Billing with an ID token at the MFA level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Response

from idp.rp import MFA
from tests.support.browser import add_virtual_authenticator, chromium_browser, webauthn_session
from tests.support.demo import demo_app

PWD = "urn:idp:acr:pwd"


@pytest.fixture(scope="module")
def demo(server) -> Iterator[str]:
    """The demo relying app on its own loopback port, registered as a first-party client."""
    with demo_app(server, "Step-up demo (browser)") as base:
        yield base


@pytest.fixture()
def chromium() -> Iterator[Browser]:
    with chromium_browser() as browser:
        yield browser


class Visitor:
    """One browser tab with a platform passkey authenticator (UV, resident keys), and an account."""

    def __init__(self, browser: Browser, server, account: dict) -> None:
        self.server, self.account = server, account
        self.context = browser.new_context()
        self.page: Page = self.context.new_page()
        self.authenticator = add_virtual_authenticator(self.page)
        self.cdp = webauthn_session(self.page)
        self.documents: list[tuple[str, int]] = []  # every page load, redirects included
        self.page.on("response", self._record)

    def _record(self, response: Response) -> None:
        if response.request.resource_type == "document":
            self.documents.append((response.url.split("?")[0], response.status))

    def presence(self, enabled: bool) -> None:
        """Off: the authenticator leaves every WebAuthn request unanswered."""
        self.cdp.send(
            "WebAuthn.setAutomaticPresenceSimulation",
            {"authenticatorId": self.authenticator, "enabled": enabled},
        )

    def sign_in_with_password(self, open_sign_in_page: Callable[[], None]) -> None:
        """Open the provider's sign-in page and sign in with the password.

        Presence is off before the page loads: its passkey autofill request stays unanswered,
        like a person who ignores the suggestion and types the password.
        """
        self.presence(False)
        open_sign_in_page()
        self.page.wait_for_url(f"{self.server.url}/login*")
        self.page.get_by_label("Email").fill(self.account["email"])
        self.page.get_by_label("Password").fill(self.account["password"])
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.wait_for_url(lambda url: "/login" not in url)
        self.presence(True)

    def register_passkey(self, name: str) -> None:
        """Account -> Security -> Add: Passkey, then forget every cookie (signed out)."""
        self.sign_in_with_password(lambda: self.page.goto(self.server.url + "/login?next=security"))
        self.page.get_by_role("link", name="Add: Passkey").click()
        self.page.get_by_label("Name for this passkey").fill(name)
        self.page.get_by_role("button", name="Create a passkey").click()
        self.page.wait_for_url("**/account/security/passkeys/backup-codes")
        self.context.clear_cookies()

    def sign_in_to_demo(self, demo: str) -> None:
        """From the demo's start page, "Sign in with idp" and type the password."""
        self.page.goto(demo + "/")
        self.sign_in_with_password(self.page.get_by_role("button", name="Sign in with idp").click)

    def use_passkey(self, remember: bool = False) -> None:
        """Answer the provider's passkey step, optionally remembering this browser."""
        self.page.wait_for_url(f"{self.server.url}/mfa/passkey/*")
        if remember:
            self.page.get_by_label("Remember this browser").check()
        self.page.get_by_role("button", name="Use your passkey").click()

    def sign_out_of_demo(self, demo: str) -> None:
        """The demo's "Sign out": RP-initiated logout at the provider, back to the demo."""
        self.page.get_by_role("button", name="Sign out").click()
        self.page.get_by_role("button", name="Sign in with idp").wait_for()
        assert self.page.url.startswith(f"{demo}/?state="), self.page.url


def _claim(page: Page, name: str) -> str:
    """The value the demo shows for an ID token claim (its <dt>/<dd> list)."""
    return page.locator(
        f"xpath=//dt[normalize-space()='{name}']/following-sibling::dd[1]"
    ).inner_text()


def _amr(page: Page) -> list[str]:
    return [method.strip() for method in _claim(page, "amr").split(",")]


def _authorize_params(response: Response) -> dict[str, str]:
    query = urlsplit(response.headers["location"]).query
    return {key: values[0] for key, values in parse_qs(query).items()}


def test_billing_steps_up_a_password_only_session_with_a_passkey(server, demo, chromium):
    """A password-only demo session opens Billing only after the provider's passkey step.

    Proves, in a real browser: the demo's first answer to /billing is a redirect to the
    provider's /authorize with ``acr_values=urn:idp:acr:mfa`` (Billing is not shown before);
    the provider asks for the passkey without asking for the password again; the browser lands
    back on Billing, whose ID token has acr ``urn:idp:acr:mfa`` and amr with mfa and a key.
    """
    visitor = Visitor(chromium, server, server.create_user())
    visitor.register_passkey("Laptop")

    # First sign-in to the demo: password, then the passkey, remembering this browser.
    visitor.sign_in_to_demo(demo)
    visitor.use_passkey(remember=True)
    visitor.page.wait_for_url(f"{demo}/")
    assert "mfa" in _amr(visitor.page)  # no acr asked for: the strongest reached (phrh)
    visitor.sign_out_of_demo(demo)

    # Second sign-in: the remembered browser skips the routine passkey step.
    visitor.sign_in_to_demo(demo)
    visitor.page.wait_for_url(f"{demo}/")
    page = visitor.page
    assert page.get_by_role("heading", name="Signed in").is_visible()
    assert _claim(page, "email") == visitor.account["email"]
    assert _claim(page, "acr") == PWD and _amr(page) == ["pwd"]

    # Billing: the demo sends the browser to the provider first.
    before = len(visitor.documents)
    with page.expect_response(f"{demo}/billing") as first:
        page.get_by_role("link", name="Billing").click()
    assert first.value.status in (302, 303), first.value.status
    asked = first.value.headers["location"]
    assert asked.startswith(f"{server.url}/authorize?"), asked
    assert _authorize_params(first.value)["acr_values"] == MFA

    # The provider asks for the passkey only: the sign-in session is still there.
    page.wait_for_url(f"{server.url}/mfa/passkey/*")
    page.get_by_role("heading", name="Two-step verification").wait_for()
    assert page.get_by_label("Password").count() == 0
    assert page.locator("input[type=password]").count() == 0
    visitor.use_passkey()
    page.wait_for_url(f"{demo}/billing")
    loads = visitor.documents[before:]
    assert loads[0] == (f"{demo}/billing", 302), loads  # Billing was not shown first
    assert not [url for url, _ in loads if url.startswith(f"{server.url}/login")], loads

    # Back on Billing, at the MFA level.
    page.get_by_role("heading", name="Billing").wait_for()
    assert page.get_by_role("heading", name="Invoices").is_visible()
    assert _claim(page, "acr") == MFA
    amr = _amr(page)
    assert "mfa" in amr and {"hwk", "swk"} & set(amr), amr
