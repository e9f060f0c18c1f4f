"""Passkeys end to end: a real Chromium with a DevTools virtual authenticator against the live
provider (SQLite and PostgreSQL), and a real OIDC client reading the ID token's amr.

While presence simulation is on, the virtual authenticator answers every ceremony at once,
including the autofill request (conditional mediation) the sign-in page starts when it loads;
tests that type a password switch it off first, like a person who ignores the suggestion.

The negative cases post assertions signed with the virtual credential's own private key that
are right in everything but the one thing under test, so each refusal shows that the server
checked that thing (and a following good assertion shows the refusal changed nothing).
"""

from __future__ import annotations

import email
import json
from types import SimpleNamespace

import pytest
import requests

from tests.support.browser import (
    add_virtual_authenticator,
    chromium_browser,
    wait_for_passkey_autofill,
    watch_passkey_autofill,
    webauthn_session,
)
from tests.support.oidc import AuthorizationResult, RelyingParty, csrf_token
from tests.support.webauthn import UP, UV, VirtualCredential, b64url, unb64url

CALLBACK = "http://localhost:9/cb"  # the ``rp`` fixture's redirect URI; nothing listens there


@pytest.fixture(scope="module")
def chromium():
    with chromium_browser() as browser:
        yield browser


class Person:
    """One person: a browser context with its own virtual authenticator, and an account."""

    def __init__(self, browser, server, account: dict) -> None:
        self.server, self.account = server, account
        self.context = browser.new_context()
        watch_passkey_autofill(self.context)
        self.page = self.context.new_page()
        self.authenticator = add_virtual_authenticator(self.page)
        self.cdp = webauthn_session(self.page)
        self.arrived: list[str] = []  # where the provider sent the browser back to the RP
        self.page.on("response", self._redirect)

    def _redirect(self, response) -> None:
        """Read redirects to the RP from the provider's answer: Chromium will not load the
        callback (port 9 is unsafe to it), and routing misses the later hops of a redirect."""
        location = response.headers.get("location", "")
        if location.startswith(CALLBACK):
            self.arrived.append(location)

    def wait_for_relying_party(self, seconds: float = 15) -> str:
        for _ in range(int(seconds * 10)):
            if self.arrived:
                return self.arrived[-1]
            self.page.wait_for_timeout(100)
        raise AssertionError(f"never sent back to the relying party; at {self.page.url}")

    def presence(self, enabled: bool) -> None:
        self.cdp.send(
            "WebAuthn.setAutomaticPresenceSimulation",
            {"authenticatorId": self.authenticator, "enabled": enabled},
        )

    def credentials(self) -> list[VirtualCredential]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator})
        return [VirtualCredential.from_cdp(c) for c in found["credentials"]]

    def sign_in_with_password(self, url: str) -> None:
        """Open ``url``, which shows the sign-in page, and sign in with the password."""
        self.presence(False)
        self.page.goto(url)
        self.page.get_by_label("Email").fill(self.account["email"])
        self.page.get_by_label("Password").fill(self.account["password"])
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.wait_for_url(lambda u: "/login" not in u)
        self.presence(True)

    def register_passkey(self, name: str) -> list[str]:
        """Add a passkey from Account -> Security; return the backup codes it came with."""
        self.sign_in_with_password(self.server.url + "/login?next=security")
        self.page.get_by_role("link", name="Add: Passkey").click()
        self.page.get_by_label("Name for this passkey").fill(name)
        self.page.get_by_role("button", name="Create a passkey").click()
        self.page.wait_for_url("**/account/security/passkeys/backup-codes")
        return self.page.locator("ul.codes code").all_inner_texts()

    def start_over(self) -> None:
        """Forget every cookie: the next visit starts signed out."""
        self.context.clear_cookies()


@pytest.fixture()
def person(server, chromium):
    someone = Person(chromium, server, server.create_user())
    yield someone
    someone.context.close()


@pytest.fixture()
def enrolled(person):
    person.register_passkey("Laptop")
    person.start_over()
    return person


def _authorize(relying: RelyingParty):
    url, state, nonce, verifier = relying.authorization_url()
    return url, SimpleNamespace(state=state, nonce=nonce, verifier=verifier)


def _claims(relying: RelyingParty, person: Person, request) -> dict:
    location = person.wait_for_relying_party()
    result = AuthorizationResult(
        SimpleNamespace(headers={"Location": location}),
        request.state,
        request.nonce,
        request.verifier,
    )
    assert result.params["state"] == request.state
    token = relying.redeem(result).json()
    return relying.verify_id_token(token["id_token"], request.nonce, token["access_token"])


def _has_passkey_amr(amr: list[str]) -> bool:
    return "user" in amr and "mfa" in amr and bool({"hwk", "swk"} & set(amr))


# --- the three journeys ----------------------------------------------------------------------


def test_passkey_added_from_security_page_comes_with_backup_codes_and_a_mail(server, person):
    codes = person.register_passkey("Laptop")
    assert len(codes) == 10
    [credential] = person.credentials()
    assert credential.rp_id == "localhost"
    assert credential.user_handle == person.account["sub"].encode()
    mails = [email.message_from_bytes(p.read_bytes()) for p in server.instance.glob("outbox/*")]
    bodies = [m.get_payload() for m in mails if m["To"] == person.account["email"]]
    assert any("added to your account: Laptop" in body for body in bodies)
    # registering proved possession: the session counts it, so the page lists it at once
    person.page.goto(server.url + "/account/security/")
    row = person.page.get_by_role("row", name="Laptop")
    assert "Passkey" in row.inner_text()


def _phishing_resistant_level(amr: list[str]) -> str:
    """Asked for nothing in particular, the acr is the strongest level reached: a passkey in a
    multi-factor sign-in is phishing-resistant, hardware-bound (phrh) unless it is synced."""
    return "phrh" if "hwk" in amr else "phr"


def test_password_and_passkey_give_amr_with_pwd_a_key_user_and_mfa(server, rp, enrolled):
    relying = RelyingParty(server, rp)
    url, request = _authorize(relying)
    enrolled.sign_in_with_password(url)
    enrolled.page.get_by_role("button", name="Use your passkey").click()
    claims = _claims(relying, enrolled, request)
    assert "pwd" in claims["amr"] and _has_passkey_amr(claims["amr"]), claims["amr"]
    assert claims["acr"] == _phishing_resistant_level(claims["amr"])


def test_passwordless_passkey_from_the_sign_in_button_has_no_pwd(server, rp, enrolled):
    relying = RelyingParty(server, rp)
    url, request = _authorize(relying)
    enrolled.presence(False)  # leave the autofill request unanswered: use the button
    enrolled.page.goto(url)
    button = enrolled.page.get_by_role("button", name="Use a passkey")
    wait_for_passkey_autofill(enrolled.page)
    enrolled.presence(True)
    button.click()
    claims = _claims(relying, enrolled, request)
    assert "pwd" not in claims["amr"] and _has_passkey_amr(claims["amr"]), claims["amr"]
    assert claims["acr"] == _phishing_resistant_level(claims["amr"])


def test_passkey_autofill_signs_in_without_a_password(server, rp, enrolled):
    relying = RelyingParty(server, rp)
    url, request = _authorize(relying)
    enrolled.page.goto(url)  # conditional mediation: the authenticator picks the suggestion
    claims = _claims(relying, enrolled, request)
    assert "pwd" not in claims["amr"] and _has_passkey_amr(claims["amr"]), claims["amr"]


def test_sign_in_page_offers_passkeys_in_the_email_autofill(server):
    page = requests.get(server.url + "/login", timeout=10).text
    assert 'autocomplete="username webauthn"' in page
    assert '<script src="/static/passkeys.js"' in page and "<script>" not in page


# --- replays ---------------------------------------------------------------------------------


class Capture:
    """Record a JSON call made by the page (body, CSRF header, cookies) and let it through."""

    def __init__(self, person: Person, pattern: str) -> None:
        self.person, self.calls = person, []
        person.page.route(pattern, self._record)

    def _record(self, route) -> None:
        cookies = {c["name"]: c["value"] for c in self.person.context.cookies()}
        self.calls.append(
            (route.request.url, route.request.post_data, route.request.headers, cookies)
        )
        route.continue_()

    def replay(self, cookies: dict | None = None) -> requests.Response:
        url, body, headers, sent_cookies = self.calls[-1]
        return requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "X-CSRFToken": headers["x-csrftoken"]},
            cookies=sent_cookies if cookies is None else cookies,
            timeout=10,
        )


def test_replayed_passwordless_assertion_is_refused(server, enrolled):
    capture = Capture(enrolled, "**/login/passkey/verify")
    enrolled.presence(False)
    enrolled.page.goto(server.url + "/login")
    button = enrolled.page.get_by_role("button", name="Use a passkey")
    wait_for_passkey_autofill(enrolled.page)
    enrolled.presence(True)
    button.click()
    enrolled.page.wait_for_url("**/account/")
    # The very request, cookies included: the session it was made in ended at the sign-in (its
    # id names nothing now), so it is refused before any passkey is looked at. The challenge's
    # own single use is shown in tests/factors/test_passkey.py.
    again = capture.replay()
    assert again.status_code == 400 and "redirect" not in again.json(), again.text
    assert "Set-Cookie" not in again.headers
    now_cookies = {c["name"]: c["value"] for c in enrolled.context.cookies()}
    later = capture.replay(now_cookies)  # the same answer from the browser, now signed in
    assert later.status_code == 400 and "redirect" not in later.json(), later.text


def test_replayed_second_factor_assertion_is_refused(server, enrolled):
    capture = Capture(enrolled, "**/mfa/passkey/*/verify")
    enrolled.sign_in_with_password(server.url + "/login")
    enrolled.page.get_by_role("button", name="Use your passkey").click()
    enrolled.page.wait_for_url("**/account/")
    again = capture.replay()
    assert again.status_code == 400 and "already completed" in again.json()["error"], again.text


# --- responses that are right in everything but one thing --------------------------------------


class Attempt:
    """A passwordless sign-in driven with ``requests``: options, then a hand-made answer."""

    def __init__(self, server) -> None:
        self.server = server
        self.browser = requests.Session()
        self.token = csrf_token(self.browser.get(server.url + "/login", timeout=10).text)

    def post(self, path: str, body: dict) -> requests.Response:
        return self.browser.post(
            self.server.url + path, json=body, headers={"X-CSRFToken": self.token}, timeout=10
        )

    def answer(self, make) -> requests.Response:
        options = self.post("/login/passkey/options", {}).json()["publicKey"]
        assert options["allowCredentials"] == [] and options["userVerification"] == "required"
        return self.post("/login/passkey/verify", {"credential": make(options["challenge"])})


def _refused(response: requests.Response, words: str) -> None:
    assert response.status_code == 400, response.text
    assert words in response.json()["error"], response.json()


def _accepted(server, credential: VirtualCredential, sign_count: int) -> None:
    """A correct answer still works: the refusals before it stored nothing (not even a count)."""
    ok = Attempt(server).answer(
        lambda c: credential.assertion(c, server.url, sign_count=sign_count)
    )
    assert ok.status_code == 200 and ok.json()["redirect"].endswith("/account/"), ok.text


def test_passkey_assertion_made_on_another_origin_is_refused(server, enrolled):
    [credential] = enrolled.credentials()
    for origin in ("https://evil.example", "http://localhost:1", server.url + ".evil.example"):
        made = Attempt(server).answer(
            lambda c, o=origin: credential.assertion(c, o, sign_count=900)
        )
        _refused(made, "made on another website")
    framed = Attempt(server).answer(
        lambda c: credential.assertion(c, server.url, sign_count=900, cross_origin=True)
    )
    _refused(framed, "made on another website")
    _accepted(server, credential, sign_count=500)


def test_passkey_assertion_for_another_rp_id_is_refused(server, enrolled):
    [credential] = enrolled.credentials()
    for rp_id in ("evil.example", "localhost.evil.example", "127.0.0.1"):
        made = Attempt(server).answer(
            lambda c, r=rp_id: credential.assertion(c, server.url, rp_id=r, sign_count=900)
        )
        _refused(made, "belongs to another website")
    _accepted(server, credential, sign_count=500)


def test_passwordless_assertion_without_user_verification_is_refused(server, enrolled):
    [credential] = enrolled.credentials()
    made = Attempt(server).answer(
        lambda c: credential.assertion(c, server.url, sign_count=900, flags=UP)
    )
    _refused(made, "did not confirm it is you")
    _accepted(server, credential, sign_count=500)


def test_passkey_assertion_without_user_presence_is_refused(server, enrolled):
    [credential] = enrolled.credentials()
    made = Attempt(server).answer(
        lambda c: credential.assertion(c, server.url, sign_count=900, flags=UV)
    )
    _refused(made, "could not be verified")
    _accepted(server, credential, sign_count=500)


def test_passkey_assertion_whose_sign_count_did_not_increase_is_refused(server, enrolled):
    [credential] = enrolled.credentials()
    _accepted(server, credential, sign_count=500)
    for count in (500, 499, 0):
        made = Attempt(server).answer(
            lambda c, n=count: credential.assertion(c, server.url, sign_count=n)
        )
        _refused(made, "counter did not advance")
    _accepted(server, credential, sign_count=501)


def test_passkey_assertion_for_another_challenge_is_refused(server, enrolled):
    [credential] = enrolled.credentials()
    attempt = Attempt(server)
    attempt.post("/login/passkey/options", {})
    made = attempt.post(
        "/login/passkey/verify",
        {"credential": credential.assertion("bm90LWlzc3VlZA", server.url, sign_count=900)},
    )
    _refused(made, "expired or was already used")
    _accepted(server, credential, sign_count=500)


def test_passkey_assertion_naming_another_account_is_refused(server, enrolled):
    [credential] = enrolled.credentials()
    other = server.create_user()
    impostor = VirtualCredential(
        credential.credential_id, other["sub"].encode(), credential.private_key,
        credential.rp_id, credential.sign_count, credential.backup_eligible,
    )  # fmt: skip
    made = Attempt(server).answer(lambda c: impostor.assertion(c, server.url, sign_count=900))
    _refused(made, "belongs to another account")
    _accepted(server, credential, sign_count=500)


def test_malformed_passkey_responses_get_a_json_error(server, enrolled):
    [credential] = enrolled.credentials()
    attempt = Attempt(server)
    for broken in (
        None,
        {},
        {"rawId": "!!"},
        {"rawId": credential.assertion("x", "y", sign_count=1)["rawId"]},
    ):
        made = attempt.post("/login/passkey/verify", {"credential": broken})
        assert made.status_code == 400 and made.json()["error"], made.text
    junk = attempt.browser.post(
        server.url + "/login/passkey/verify", data="not json",
        headers={"X-CSRFToken": attempt.token}, timeout=10,
    )  # fmt: skip
    assert junk.status_code == 400 and junk.json()["error"]
    no_csrf = requests.post(server.url + "/login/passkey/verify", json={}, timeout=10)
    assert no_csrf.status_code == 400 and "expired" in no_csrf.json()["error"]
    _accepted(server, credential, sign_count=500)


def test_registration_response_for_another_origin_is_refused(server, person):
    """The attestation is checked too: a create() answer bound to another origin adds nothing."""
    person.sign_in_with_password(server.url + "/login?next=security")
    person.page.route(
        "**/account/security/passkeys/verify",
        lambda route: route.continue_(post_data=_rewrite_origin(route.request.post_data)),
    )
    person.page.goto(server.url + "/account/security/passkeys")
    person.page.get_by_role("button", name="Create a passkey").click()
    status = person.page.get_by_role("status")
    status.filter(has_text="another website").wait_for()
    person.page.goto(server.url + "/account/security/")
    assert "Two-step verification is off" in person.page.locator("main").inner_text()


def _rewrite_origin(body: str) -> str:
    """Change clientDataJSON's origin (the signature does not cover an attestation 'none')."""
    data = json.loads(body)
    response = data["credential"]["response"]
    client = json.loads(unb64url(response["clientDataJSON"]))
    client["origin"] = "https://evil.example"
    response["clientDataJSON"] = b64url(json.dumps(client).encode())
    return json.dumps(data)
