"""Issue 4 end to end: role policy at sign-in, acr step-up, client policy, and what the tokens
say, with a real OIDC client against the live provider on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from html import unescape

import jwt
import pytest
import requests

from tests.support.factors import (
    answer_soft_passkey,
    backup_code_page,
    enroll_soft_passkey,
    enroll_totp,
    next_totp,
    password_sign_in,
)
from tests.support.oidc import AuthorizationResult, HostedPages, RelyingParty, csrf_token, hidden

MFA, PHR, PWD = "urn:idp:acr:mfa", "phr", "urn:idp:acr:pwd"


def _role(server, *policy: str) -> str:
    name = f"role{time.time_ns()}"
    server.cli("roles", "create", name)
    server.cli("roles", "set-policy", name, *policy)
    return name


def _user(server, *roles: str) -> dict:
    email, password = f"p{time.time_ns()}@example.com", "correct horse battery"
    args = [arg for role in roles for arg in ("--role", role)]
    out = server.cli("users", "create", email, "--password-stdin", *args, stdin=password + "\n")
    return {**json.loads(out.stdout), "password": password}


def _tokens(relying: RelyingParty, result: AuthorizationResult, response) -> tuple[dict, dict]:
    """Redeem the code in ``response`` (a redirect to the client); the ID token's claims."""
    done = AuthorizationResult(response, result.state, result.nonce, result.verifier)
    assert "code" in done.params, (response.status_code, done.location, response.text[:300])
    tokens = relying.redeem(done).json()
    claims = relying.verify_id_token(tokens["id_token"], result.nonce, tokens["access_token"])
    return tokens, claims


def _enroll_page_skip(browser: HostedPages, page):
    return browser.post(
        browser.base + "/enroll/skip",
        data={"csrf_token": csrf_token(page.text), "next": hidden(page.text, "next")},
        allow_redirects=False,
    )


def _follow(browser: HostedPages, response, relying: RelyingParty):
    return browser.follow(browser.base + response.headers["Location"], relying.redirect_uri)


def _answer_code(browser: HostedPages, page, code: str, **extra: str):
    """Submit the code page shown in ``page`` (not following redirects)."""
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    data = {"csrf_token": csrf_token(page.text), "challenge": hidden(page.text, "challenge"),
            "next": hidden(page.text, "next"), "code": code, **extra}  # fmt: skip
    return browser.post(browser.base + action, data=data, allow_redirects=False)


def _answer_totp(browser: HostedPages, page, person: dict):
    return _answer_code(browser, page, next_totp(person))


# --- role policy at sign-in ----------------------------------------------------------------


def test_required_mfa_sends_a_user_without_factor_to_enrollment_before_any_code(server, rp):
    person = _user(server, _role(server, "--mode", "required"))
    browser, relying = HostedPages(server.url), RelyingParty(server, rp)
    result = relying.sign_in(browser, person)
    page = result.response
    assert page.status_code == 200 and "/enroll" in page.url and not result.location
    assert "requires two-step verification" in page.text and "Not now" not in page.text
    assert _enroll_page_skip(browser, page).status_code == 403  # no postponing without grace

    link = unescape(re.search(r'href="(/account/security/totp)"', page.text).group(1))
    setup = browser.get(server.url + link)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', setup.text).group(1)
    done = browser.post(
        server.url + link,
        data={"csrf_token": csrf_token(setup.text), "challenge": hidden(setup.text, "challenge"),
              "name": "Phone", "code": next_totp(person | {"secret": secret})},
    )  # fmt: skip
    assert done.status_code == 200 and "backup codes" in done.text.lower()
    saved = re.search(r'href="([^"]+)">I saved them', done.text).group(1)
    back = browser.follow(server.url + saved, relying.redirect_uri)
    _, claims = _tokens(relying, result, back)
    assert claims["acr"] == MFA and {"otp", "mfa", "pwd"} <= set(claims["amr"])


def test_recommended_mfa_nudges_once_per_session_and_can_be_skipped(server, rp):
    person = _user(server, _role(server, "--mode", "recommended"))
    browser, relying = HostedPages(server.url), RelyingParty(server, rp)
    result = relying.sign_in(browser, person)
    assert "We recommend two-step verification" in result.response.text
    skipped = _enroll_page_skip(browser, result.response)
    assert skipped.status_code == 303
    _, claims = _tokens(relying, result, _follow(browser, skipped, relying))
    assert claims["acr"] == PWD and claims["amr"] == ["pwd"]
    again = relying.sign_in(browser, person)  # same sign-in session: no second nudge
    assert "code" in again.params


def test_strictest_of_two_roles_wins(server, rp):
    person = _user(
        server, _role(server, "--mode", "recommended"), _role(server, "--mode", "required")
    )
    result = RelyingParty(server, rp).sign_in(HostedPages(server.url), person)
    assert "requires two-step verification" in result.response.text
    assert "Not now" not in result.response.text


def test_enrollment_grace_by_sign_ins_then_blocks(server, rp):
    person = _user(server, _role(server, "--mode", "required", "--grace-signins", "1"))
    relying = RelyingParty(server, rp)
    browser = HostedPages(server.url)
    first = relying.sign_in(browser, person)
    assert "requires two-step verification" in first.response.text
    assert "postpone this\n    1 more time" in first.response.text
    _tokens(relying, first, _follow(browser, _enroll_page_skip(browser, first.response), relying))

    second = relying.sign_in(HostedPages(server.url), person)  # the next sign-in
    assert "requires two-step verification" in second.response.text
    assert "Not now" not in second.response.text and not second.location


def test_per_user_exemption_ends_at_its_expiry(server, rp):
    person = _user(server, _role(server, "--mode", "required"))
    until = datetime.fromtimestamp(int(time.time()) + 4, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    server.cli(
        "users", "override", person["email"], "--exempt", "--until", until, "--reason", "lost phone"
    )
    relying = RelyingParty(server, rp)
    exempt = relying.sign_in(HostedPages(server.url), person)
    assert "code" in exempt.params  # no enrollment asked while exempt
    time.sleep(max(0.0, datetime.fromisoformat(until + "+00:00").timestamp() - time.time()) + 1)
    expired = relying.sign_in(HostedPages(server.url), person)
    assert "requires two-step verification" in expired.response.text


def _forced_enrollment(server, rp, *policy: str) -> tuple[dict, HostedPages, RelyingParty, object]:
    """A member of a role with ``policy`` (MFA required), stopped at the enrollment page."""
    person = _user(server, _role(server, "--mode", "required", *policy))
    browser, relying = HostedPages(server.url), RelyingParty(server, rp)
    result = relying.sign_in(browser, person)
    assert "/enroll" in result.response.url and not result.location
    return person, browser, relying, result


def test_a_factor_kind_the_policy_forbids_is_not_offered_and_cannot_be_added(server, rp):
    """Only allowed kinds are offered; a direct request for another gets a refusal page and
    adds nothing (an SMS factor would never satisfy this policy, so the enrollment page would
    come back after it)."""
    _, browser, _, enrolling = _forced_enrollment(server, rp, "--factors", "totp,passkey")
    token = csrf_token(enrolling.response.text)
    for path, form in (
        ("/account/security/sms", {"name": "Phone", "phone": "+44 7700 900123"}),
        ("/account/security/email", {"name": "Mail", "email": "someone@example.com"}),
    ):
        shown = browser.get(server.url + path)
        assert shown.status_code == 403 and "does not allow" in shown.text, shown.text[:300]
        sent = browser.post(server.url + path, data={"csrf_token": token, **form})
        assert sent.status_code == 403 and "does not allow" in sent.text, sent.text[:300]
    security = browser.get(server.url + "/account/security/").text
    assert re.findall(r">Add: ([^<]+)</a>", security) == ["Authenticator app", "Passkey"]
    assert "Two-step verification is off" in security  # nothing was added


def test_security_page_says_so_when_two_roles_leave_no_kind_to_add(server):
    person = _user(server, _role(server, "--factors", "totp"), _role(server, "--factors", "sms"))
    browser = HostedPages(server.url)
    password_sign_in(browser, person, "security")
    security = browser.get(server.url + "/account/security/").text
    assert "Add: " not in security and "Contact your administrator" in security


def test_a_passkey_the_policy_forbids_is_refused_by_its_page_and_its_json_calls(server, rp):
    _, browser, _, enrolling = _forced_enrollment(server, rp, "--factors", "totp")
    page = browser.get(server.url + "/account/security/passkeys")
    assert page.status_code == 403 and "does not allow" in page.text, page.text[:300]
    headers = {"X-CSRFToken": csrf_token(enrolling.response.text)}
    for call in ("options", "verify"):
        answer = browser.post(
            server.url + f"/account/security/passkeys/{call}", json={}, headers=headers
        )
        assert answer.status_code == 403 and "does not allow" in answer.json()["error"]


def test_a_passkey_added_at_a_forced_enrollment_counts_its_user_verification(server, rp):
    """Registering is the session's second factor with the amr an assertion with the same
    flags gives: ``user``, as the software authenticator verifies the user (UV)."""
    person, browser, relying, result = _forced_enrollment(server, rp)
    enroll_soft_passkey(browser, person["sub"])
    back = browser.follow(server.url + "/account/security/enrolled", relying.redirect_uri)
    _, claims = _tokens(relying, result, back)
    assert {"hwk", "user", "mfa", "pwd"} <= set(claims["amr"]), claims["amr"]


# --- acr step-up, refresh, introspection ------------------------------------------------------


def _remembered_totp_user(server, rp) -> tuple[dict, HostedPages]:
    """A TOTP user whose browser was remembered (after a backup code: TOTP steps are single
    use and the test needs one later), then signed out: the next sign-in there is
    password-only (the remembered browser skips the routine factor)."""
    person = enroll_totp(server)
    browser, relying = HostedPages(server.url), RelyingParty(server, rp)
    page = backup_code_page(browser, relying.sign_in(browser, person).response)
    assert _answer_code(browser, page, person["codes"][0], remember="y").status_code == 303
    fresh = HostedPages(server.url)
    fresh.cookies.set("idp_device", browser.cookies.get("idp_device"))
    return person, fresh


def test_acr_values_step_up_a_password_session_and_tokens_keep_what_happened(server, rp):
    person, browser = _remembered_totp_user(server, rp)
    relying = RelyingParty(server, rp)
    plain = relying.sign_in(browser, person)
    _, claims = _tokens(relying, plain, plain.response)
    assert claims["acr"] == PWD and claims["amr"] == ["pwd"]  # the remembered browser

    url, state, nonce, verifier = relying.authorization_url(acr_values=MFA)
    page = browser.follow(url, relying.redirect_uri)
    assert "/mfa/" in page.url and 'name="password"' not in page.text  # only what is missing
    step = _answer_totp(browser, page, person)
    result = AuthorizationResult(_follow(browser, step, relying), state, nonce, verifier)
    tokens, stepped = _tokens(relying, result, result.response)
    assert stepped["acr"] == MFA and {"mfa", "otp", "pwd"} <= set(stepped["amr"])
    assert stepped["auth_time"] >= claims["auth_time"]

    refreshed = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ).json()
    access = jwt.decode(refreshed["access_token"], options={"verify_signature": False})
    assert (access["acr"], access["amr"], access["auth_time"]) == (
        stepped["acr"], stepped["amr"], stepped["auth_time"],
    )  # fmt: skip
    seen = relying.post(
        relying.meta["introspection_endpoint"], {"token": refreshed["access_token"]}
    ).json()
    assert seen["active"] and seen["acr"] == MFA and seen["amr"] == stepped["amr"]
    assert seen["auth_time"] == stepped["auth_time"]


def test_max_age_once_passed_asks_every_factor_again_and_auth_time_moves(server, rp):
    person = enroll_totp(server)
    browser, relying = HostedPages(server.url), RelyingParty(server, rp)
    first = relying.sign_in(browser, person)
    step = _answer_totp(browser, first.response, person)
    _, before = _tokens(relying, first, _follow(browser, step, relying))
    assert before["acr"] == MFA
    time.sleep(2)
    url, state, nonce, verifier = relying.authorization_url(max_age="1")
    page = browser.follow(url, stop_at=relying.redirect_uri)
    assert 'name="password"' in page.text  # the first factor again...
    page = browser.submit_login(
        page, person["email"], person["password"], stop_at=relying.redirect_uri
    )
    assert "/mfa/" in page.url  # ...and the second (a backup code: this TOTP step is spent)
    step = _answer_code(browser, backup_code_page(browser, page), person["codes"][0])
    result = AuthorizationResult(_follow(browser, step, relying), state, nonce, verifier)
    _, after = _tokens(relying, result, result.response)
    assert after["acr"] == MFA and after["auth_time"] >= before["auth_time"] + 2


def test_essential_phr_for_a_totp_only_user_is_unmet_once_the_passkey_offer_is_declined(server, rp):
    person = enroll_totp(server)
    browser, relying = HostedPages(server.url), RelyingParty(server, rp)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [PHR]}}})
    result = relying.sign_in(browser, person, claims=claims)
    page = result.response  # the routine TOTP comes first; then phr is out of reach...
    step = _answer_totp(browser, page, person)
    offer = _follow(browser, step, relying)  # ...but a passkey would reach it (issue 12, 5e)
    assert "/enroll/" in offer.url and "asks for a stronger sign-in" in offer.text
    declined = _follow(browser, _enroll_page_skip(browser, offer), relying)
    done = AuthorizationResult(declined, result.state, "", "")
    assert done.params["error"] == "unmet_authentication_requirements"
    assert done.params["state"] == result.state and "code" not in done.params


def test_phr_with_a_passkey_succeeds_and_the_acr_says_phr(server, rp):
    person = _user(server)
    browser, relying = HostedPages(server.url), RelyingParty(server, rp)
    password_sign_in(browser, person, "security")
    credential = enroll_soft_passkey(browser, person["sub"])
    fresh = HostedPages(server.url)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [PHR]}}})
    result = relying.sign_in(fresh, person, claims=claims)
    assert "/mfa/passkey/" in result.response.url
    redirect = answer_soft_passkey(fresh, result.response, credential, sign_count=1)
    done = fresh.follow(server.url + redirect, relying.redirect_uri)
    _, id_claims = _tokens(relying, result, done)
    assert id_claims["acr"] == PHR and {"hwk", "mfa", "pwd"} <= set(id_claims["amr"])


def test_adding_a_synced_passkey_counts_as_synced_even_beside_a_used_device_bound_one(server, rp):
    """Enrolling counts as the session's second factor with the new key's own amr (swk), not
    another key's: phrh still needs the device-bound key."""
    person = enroll_totp(server)
    relying = RelyingParty(server, rp)
    browser = HostedPages(server.url)
    page = relying.sign_in(browser, person).response
    assert _answer_code(browser, page, next_totp(person)).status_code == 303
    device_bound = enroll_soft_passkey(browser, person["sub"])
    again = relying.sign_in(browser, person, prompt="login")  # use it once: most recent factor
    passkey_page = browser.get(server.url + f"/mfa/passkey/{_factor_id(again.response)}?next="
                               + hidden(again.response.text, "next"))  # fmt: skip
    redirect = answer_soft_passkey(browser, passkey_page, device_bound, sign_count=1)
    assert (
        "code"
        in AuthorizationResult(
            browser.follow(server.url + redirect, relying.redirect_uri), "", "", ""
        ).params
    )

    fresh = HostedPages(server.url)  # a session with password and backup code, no key
    codes_page = backup_code_page(fresh, relying.sign_in(fresh, person).response)
    assert _answer_code(fresh, codes_page, person["codes"][0]).status_code == 303
    enroll_soft_passkey(fresh, person["sub"], backup_eligible=True)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["phrh"]}}})
    result = relying.sign_in(fresh, person, claims=claims)
    assert not result.location and "/mfa/passkey/" in result.response.url  # asks for the key


def _factor_id(page) -> str:
    """The id of the passkey listed among a second-factor page's other methods."""
    return re.search(r'href="/mfa/(\d+)\?next=[^"]*">\s*Passkey', page.text).group(1)


def test_cancelling_the_second_factor_of_an_essential_request_is_unmet(server, rp):
    person = enroll_totp(server)
    browser, relying = HostedPages(server.url), RelyingParty(server, rp)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [MFA]}}})
    result = relying.sign_in(browser, person, claims=claims)
    form = re.search(r'<form method="post" action="(/authorize\?[^"]+)"', result.response.text)
    cancelled = browser.post(
        server.url + unescape(form.group(1)),
        data={"csrf_token": csrf_token(result.response.text), "cancel": "1"},
        allow_redirects=False,
    )
    done = AuthorizationResult(cancelled, result.state, "", "")
    assert done.params["error"] == "unmet_authentication_requirements"
    assert done.params["state"] == result.state


# --- client policy -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_rp(server):
    """A client whose every sign-in needs the MFA level."""
    return server.create_client(
        "--name", "Admin tool", "--redirect-uri", "http://localhost:9/admin", "--first-party",
        "--minimum-acr", MFA,
    )  # fmt: skip


def test_client_minimum_acr_for_a_user_without_factor_offers_one_then_is_unmet(server, strict_rp):
    browser, relying = HostedPages(server.url), RelyingParty(server, strict_rp)
    result = relying.sign_in(browser, _user(server))
    offer = result.response  # any kind would reach the minimum: it is offered (issue 12, 5e)
    assert "/enroll/" in offer.url and "Admin tool asks for a stronger sign-in" in offer.text
    declined = _follow(browser, _enroll_page_skip(browser, offer), relying)
    done = AuthorizationResult(declined, result.state, "", "")
    assert done.params["error"] == "unmet_authentication_requirements"


def test_client_minimum_acr_steps_up_even_a_remembered_browser(server, rp, strict_rp):
    person, browser = _remembered_totp_user(server, rp)
    relying = RelyingParty(server, strict_rp)
    result = relying.sign_in(browser, person)
    assert "/mfa/" in result.response.url  # the remembered browser does not meet a minimum
    page = result.response
    step = _answer_totp(browser, page, person)
    _, claims = _tokens(relying, result, _follow(browser, step, relying))
    assert claims["acr"] == MFA


def test_discovery_advertises_the_acr_levels_and_aliases(server):
    meta = requests.get(server.url + "/.well-known/openid-configuration", timeout=10).json()
    assert meta["acr_values_supported"] == [PWD, MFA, "phr", "phrh", "0", "1", "2"]
