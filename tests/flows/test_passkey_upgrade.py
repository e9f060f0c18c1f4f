"""A passkey below a tightened policy, end to end (issue 14): a real Chromium with DevTools
virtual authenticators against the live provider (SQLite and PostgreSQL), the ``idp`` CLI as
the admin, and a real OIDC client reading the ID token's acr and amr.

A user adds a passkey while their role asks nothing of it (attestation ``none``); the admin
then requires attested passkeys for the role. At the next sign-in, after that passkey, the
provider asks for a security key from the approved list. The new key is refused while its
model is not on the list, with a message on that page; once the admin allows the model, adding
it finishes the sign-in at ``phrh``, and the next sign-ins are not asked again.

DevTools' virtual authenticator attests with Chromium's own batch certificate only: a
self-signed certificate made anew at each ceremony, which no root can be set up for (a trusted
self-signed leaf must be that very certificate). So the test plays the key's maker: a test CA
(``tests.support.attestation``) issues an attestation certificate for the virtual model's
AAGUID, and the browser's registration answer is re-attested with it on its way to the
provider (the statement replaced, the authenticator data and the credential key untouched),
as a key of that model would attest. The credential stays in the virtual authenticator, which
signs the later sign-ins itself.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from axe_playwright_python.sync_playwright import Axe
from webauthn.helpers import encode_cbor, parse_cbor

from tests.support.attestation import CertificateAuthority
from tests.support.browser import (
    add_virtual_authenticator,
    chromium_browser,
    watch_passkey_autofill,
    webauthn_session,
)
from tests.support.live import backend_server
from tests.support.oidc import AuthorizationResult, RelyingParty
from tests.support.webauthn import PackedAttestation, b64url, unb64url

CALLBACK = "http://localhost:9/cb"  # nothing listens there: redirects are read, not loaded
SHOTS = Path("/tmp/shots_d")
ASKED = "Your organisation now requires a security key or device from an approved list."
UNLISTED = "is not on your organisation's list of approved security keys"
PHRH = "phrh"
AXE, WCAG = Axe(), ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
#: The model (AAGUID) of every DevTools virtual authenticator.
VIRTUAL_AAGUID = "01020304-0506-0708-0102-030405060708"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    with backend_server(request, tmp_path_factory, "passkey_upgrade") as server:
        yield server


@pytest.fixture(scope="module")
def client(live) -> dict:
    return live.create_client("--name", "Upgrade RP", "--redirect-uri", CALLBACK, "--first-party")


@pytest.fixture(scope="module")
def chromium():
    with chromium_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def vendor(tmp_path_factory) -> SimpleNamespace:
    """The virtual model's maker: a test CA, its root as a PEM file, and an attestation key
    with a certificate naming the model."""
    ca = CertificateAuthority("Virtual Keys Root CA")
    root = tmp_path_factory.mktemp("vendor") / "root.pem"
    root.write_bytes(ca.pem)
    return SimpleNamespace(root=str(root), attestation=ca.packed(uuid.UUID(VIRTUAL_AAGUID).bytes))


def attested_by(attestation: PackedAttestation):
    """A route handler that re-attests a registration answer with ``attestation``."""

    def handler(route) -> None:
        body = json.loads(route.request.post_data or "{}")
        response = body["credential"]["response"]
        auth_data = parse_cbor(unb64url(response["attestationObject"]))["authData"]
        statement = attestation.statement(auth_data, unb64url(response["clientDataJSON"]))
        attested = {"fmt": "packed", "attStmt": statement, "authData": auth_data}
        response["attestationObject"] = b64url(encode_cbor(attested))
        route.continue_(post_data=json.dumps(body))

    return handler


class Person:
    """A browser context with a virtual authenticator, and an account."""

    def __init__(self, browser, live, account: dict) -> None:
        self.live, self.account = live, account
        self.context = browser.new_context()
        watch_passkey_autofill(self.context)
        self.page = self.context.new_page()
        self.cdp = webauthn_session(self.page)
        self.authenticator = add_virtual_authenticator(self.page)
        self.arrived: list[str] = []
        self.page.on("response", self._redirect)

    def _redirect(self, response) -> None:
        location = response.headers.get("location", "")
        if location.startswith(CALLBACK):
            self.arrived.append(location)

    def presence(self, enabled: bool) -> None:
        self.cdp.send(
            "WebAuthn.setAutomaticPresenceSimulation",
            {"authenticatorId": self.authenticator, "enabled": enabled},
        )

    def swap_authenticator(self, **options) -> None:
        """Put the old authenticator away and take a new one (a security key)."""
        self.cdp.send(
            "WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.authenticator}
        )
        self.authenticator = add_virtual_authenticator(self.page, **options)

    def sign_in_with_password(self, url: str) -> None:
        """Open ``url``, which shows the sign-in page, and sign in with the password (the
        page's passkey autofill is left unanswered, as by a person who types)."""
        self.presence(False)
        self.page.goto(url)
        self.page.get_by_label("Email").fill(self.account["email"])
        self.page.get_by_label("Password").fill(self.account["password"])
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.wait_for_url(lambda u: "/login" not in u)
        self.presence(True)

    def wait_for_relying_party(self, seconds: float = 20) -> str:
        for _ in range(int(seconds * 10)):
            if self.arrived:
                return self.arrived.pop()
            self.page.wait_for_timeout(100)
        shown = self.page.inner_text("main")
        raise AssertionError(f"never sent back to the relying party; at {self.page.url}: {shown}")


def _authorize(relying: RelyingParty) -> tuple[str, SimpleNamespace]:
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [PHRH]}}})
    url, state, nonce, verifier = relying.authorization_url(claims=claims)
    return url, SimpleNamespace(state=state, nonce=nonce, verifier=verifier)


def _claims(relying: RelyingParty, location: str, request: SimpleNamespace) -> dict:
    response = SimpleNamespace(headers={"Location": location})
    done = AuthorizationResult(response, request.state, request.nonce, request.verifier)
    assert "code" in done.params, done.params
    tokens = relying.redeem(done).json()
    return relying.verify_id_token(tokens["id_token"], request.nonce, tokens["access_token"])


def _events(live, email: str, name: str) -> list[dict]:
    shown = json.loads(live.cli("users", "show", email).stdout)
    return [e for e in shown["recent_events"] if e["event"] == name]


def _passkeys(live, email: str) -> list[dict]:
    factors = json.loads(live.cli("users", "show", email).stdout)["factors"]
    return [f for f in factors if f["kind"] == "passkey"]


def _screenshots(page, name: str) -> None:
    """The page at a phone's width and a desktop's: no sideways scrolling, and nothing serious
    for axe-core (WCAG 2.0 to 2.2, A and AA)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((390, 844), (1280, 900)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow}px of sideways scrolling at {width}px"
        found = AXE.run(page, options={"runOnly": {"type": "tag", "values": WCAG}}).response
        serious = [v["id"] for v in found["violations"] if v["impact"] in ("serious", "critical")]
        assert not serious, serious


def test_a_tightened_role_asks_for_an_approved_key_at_the_next_sign_in(
    live, client, chromium, vendor
):
    role = f"keys{time.time_ns()}"
    live.cli("roles", "create", role)
    person = Person(chromium, live, live.create_user())
    live.cli("users", "set-roles", person.account["email"], role)
    relying = RelyingParty(live, client)

    # While the role asks nothing of passkeys, the user adds one (attestation "none").
    person.sign_in_with_password(live.url + "/login?next=security")
    person.page.get_by_role("link", name="Add: Passkey").click()
    person.page.get_by_label("Name for this passkey").fill("Laptop")
    person.page.get_by_role("button", name="Create a passkey").click()
    person.page.wait_for_url("**/account/security/passkeys/backup-codes")
    live.cli("roles", "set-policy", role, "--require-attested-passkeys")
    person.context.clear_cookies()

    # The next sign-in: password, the old passkey, then the question.
    url, request = _authorize(relying)
    person.sign_in_with_password(url)
    person.page.get_by_role("button", name="Use your passkey").click()
    person.page.wait_for_url("**/enroll/**")
    heading = person.page.get_by_role("heading", level=1)
    assert heading.inner_text() == "Add an approved security key"
    assert ASKED in person.page.inner_text("main")
    assert "Laptop" in person.page.inner_text("main")
    _screenshots(person.page, "upgrade_passkey")
    assert len(_events(live, person.account["email"], "passkey_upgrade_asked")) == 1

    # A security key of a model not (yet) on the list is refused on this page.
    person.swap_authenticator(transport="usb")
    person.page.route("**/account/security/passkeys/verify", attested_by(vendor.attestation))
    add = person.page.get_by_role("button", name="Add the security key")
    add.click()
    status = person.page.locator("[data-passkey-status]")
    status.filter(has_text=UNLISTED).wait_for()
    assert VIRTUAL_AAGUID in status.inner_text()
    _screenshots(person.page, "upgrade_passkey_refused")
    assert [k["name"] for k in _passkeys(live, person.account["email"])] == ["Laptop"]

    # The admin allows the model; the same key is accepted and finishes the sign-in at phrh.
    live.cli("authenticators", "allow", VIRTUAL_AAGUID, "--description", "Virtual Key 2",
             "--root-cert", vendor.root)  # fmt: skip
    add.click()
    claims = _claims(relying, person.wait_for_relying_party(), request)
    assert claims["acr"] == PHRH and "hwk" in claims["amr"], claims
    keys = {k["name"]: k for k in _passkeys(live, person.account["email"])}
    assert keys["Security key"]["below_policy"] is False and keys["Laptop"]["below_policy"]

    # The following sign-in is not asked again, and reaches phrh with the new key.
    person.context.clear_cookies()
    url, request = _authorize(relying)
    person.sign_in_with_password(url)
    assert "/enroll/" not in person.page.url
    # the step offers the passkey used last (the old one) first; the new key is one link away
    person.page.get_by_role("link", name="Passkey: Security key").click()
    person.page.get_by_role("button", name="Use your passkey").click()
    claims = _claims(relying, person.wait_for_relying_party(), request)
    assert claims["acr"] == PHRH and "hwk" in claims["amr"], claims
    assert len(_events(live, person.account["email"], "passkey_upgrade_asked")) == 1
    person.context.close()
