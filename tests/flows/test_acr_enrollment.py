"""Issue 12, 5e end to end: an application asks for a level the user's factors cannot reach
(``acr_values=phr`` for a user with an authenticator app only), and the provider offers, right
after the password and the app's code, to add a passkey on the forced-enrollment pages; added,
it counts for this sign-in and the ID token's acr is ``phr``. "Not now" continues at the level
reached; a role that forbids passkeys sees no offer. A real OIDC client against the live
provider on SQLite and PostgreSQL; the passkey is a software authenticator driven through the
same JSON calls as ``static/passkeys.js``.
"""

from __future__ import annotations

import json
import re
import time
from html import unescape

from tests.support.factors import backup_code_page, enroll_soft_passkey, enroll_totp, next_totp
from tests.support.oidc import AuthorizationResult, HostedPages, RelyingParty, csrf_token, hidden

MFA, PHR = "urn:idp:acr:mfa", "phr"


def _role(server, *policy: str) -> str:
    name = f"acr-role{time.time_ns()}"
    server.cli("roles", "create", name)
    server.cli("roles", "set-policy", name, *policy)
    return name


def _totp_user(server, *policy: str) -> dict:
    """A user with an authenticator app only, in a role with ``policy``."""
    email, password = f"acr{time.time_ns()}@example.com", "correct horse battery"
    role = ("--role", _role(server, *policy)) if policy else ()
    out = server.cli("users", "create", email, "--password-stdin", *role, stdin=password + "\n")
    return enroll_totp(server, {**json.loads(out.stdout), "password": password})


def _answer(browser: HostedPages, page, code: str, **extra: str):
    """Submit the code page shown in ``page``; the 303 it answers."""
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    data = {"csrf_token": csrf_token(page.text), "challenge": hidden(page.text, "challenge"),
            "next": hidden(page.text, "next"), "code": code, **extra}  # fmt: skip
    step = browser.post(browser.base + action, data=data, allow_redirects=False)
    assert step.status_code == 303, step.text[:300]
    return step


def _after_totp(server, rp, person: dict, browser: HostedPages | None = None, **params):
    """Sign in for ``rp`` with ``params`` (in a fresh browser unless given): password if asked,
    then the app's code; the page (or the redirect to the client) that comes next."""
    browser, relying = browser or HostedPages(server.url), RelyingParty(server, rp)
    result = relying.sign_in(browser, person, **params)
    page = result.response
    assert "/mfa/" in page.url, (page.status_code, page.url)
    step = _answer(browser, page, next_totp(person))
    after = browser.follow(server.url + step.headers["Location"], relying.redirect_uri)
    return browser, relying, result, after


def _claims(relying: RelyingParty, result: AuthorizationResult, response) -> dict:
    done = AuthorizationResult(response, result.state, result.nonce, result.verifier)
    assert "code" in done.params, (response.status_code, done.location, response.text[:300])
    tokens = relying.redeem(done).json()
    return relying.verify_id_token(tokens["id_token"], result.nonce, tokens["access_token"])


def _offered(page) -> list[str]:
    section = page.text.split('id="methods-h"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<li><a href="[^"]+">([^<]+)</a></li>', section)


def _not_now(browser: HostedPages, page, relying: RelyingParty):
    skipped = browser.post(
        browser.base + "/enroll/skip",
        data={"csrf_token": csrf_token(page.text), "next": hidden(page.text, "next")},
        allow_redirects=False,
    )
    assert skipped.status_code == 303, skipped.text[:300]
    return browser.follow(browser.base + skipped.headers["Location"], relying.redirect_uri)


def test_phr_beyond_a_totp_user_offers_a_passkey_and_the_token_says_phr(server, rp):
    person = _totp_user(server, "--factors", "totp,passkey")
    browser, relying, result, offer = _after_totp(server, rp, person, acr_values=PHR)
    assert offer.status_code == 200 and "/enroll/" in offer.url, (offer.status_code, offer.url)
    assert "Flow RP asks for a stronger sign-in" in offer.text
    assert _offered(offer) == ["Passkey"] and "Not now" in offer.text

    enroll_soft_passkey(browser, person["sub"])  # the offered page, as static/passkeys.js
    back = browser.follow(server.url + "/account/security/enrolled", relying.redirect_uri)
    claims = _claims(relying, result, back)
    assert claims["acr"] == PHR, claims
    assert {"hwk", "user", "otp", "pwd", "mfa"} <= set(claims["amr"]), claims["amr"]


def test_declining_the_offer_continues_at_the_level_reached_and_is_not_asked_again(server, rp):
    person = _totp_user(server, "--factors", "totp,passkey")
    browser, relying, result, offer = _after_totp(server, rp, person, acr_values=PHR)
    assert "/enroll/" in offer.url
    claims = _claims(relying, result, _not_now(browser, offer, relying))
    assert claims["acr"] == MFA and "hwk" not in claims["amr"]

    again = relying.sign_in(browser, person, acr_values=PHR)  # same sign-in session
    assert _claims(relying, again, again.response)["acr"] == MFA


def test_declining_the_offer_of_an_essential_phr_is_unmet(server, rp):
    person = _totp_user(server, "--factors", "totp,passkey")
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [PHR]}}})
    browser, relying, result, offer = _after_totp(server, rp, person, claims=claims)
    assert "/enroll/" in offer.url and _offered(offer) == ["Passkey"]
    done = AuthorizationResult(_not_now(browser, offer, relying), result.state, "", "")
    assert done.params["error"] == "unmet_authentication_requirements"
    assert done.params["state"] == result.state and "code" not in done.params


def test_a_role_that_forbids_passkeys_gets_no_offer_and_the_level_reached(server, rp):
    person = _totp_user(server, "--factors", "totp")
    _, relying, result, after = _after_totp(server, rp, person, acr_values=PHR)
    assert "/enroll" not in after.headers.get("Location", "") and "/enroll/" not in after.url
    assert _claims(relying, result, after)["acr"] == MFA


def test_a_remembered_browser_answers_its_factor_before_the_offer(server, rp):
    """Adding a passkey needs the user's second factor: a browser that skips it (remembered)
    is asked for it first, so the offer's page leads straight to the passkey ceremony."""
    person = _totp_user(server, "--factors", "totp,passkey")
    browser, relying = HostedPages(server.url), RelyingParty(server, rp)
    page = backup_code_page(browser, relying.sign_in(browser, person).response)
    _answer(browser, page, person["codes"][0], remember="y")
    remembered = HostedPages(server.url)
    remembered.cookies.set("idp_device", browser.cookies.get("idp_device"))
    plain = relying.sign_in(remembered, person)  # the remembered browser skips the app's code
    assert _claims(relying, plain, plain.response)["acr"] == "urn:idp:acr:pwd"

    _, _, result, offer = _after_totp(server, rp, person, remembered, acr_values=PHR)
    assert "/enroll/" in offer.url and _offered(offer) == ["Passkey"]
    enroll_soft_passkey(remembered, person["sub"])
    back = remembered.follow(server.url + "/account/security/enrolled", relying.redirect_uri)
    assert _claims(relying, result, back)["acr"] == PHR
