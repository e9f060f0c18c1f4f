"""Password + TOTP and password + backup code through the live server and a real OIDC client."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from tests.support.factors import backup_code_page, enroll_totp, password_sign_in
from tests.support.oidc import HostedPages, RelyingParty, csrf_token, hidden, submit_code


def _code(secret: str, step_offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * step_offset)


@pytest.fixture()
def enrolled(server):
    person = enroll_totp(server)
    assert len(person["codes"]) == 10
    return person


def _password_step(server, rp, person):
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    result = relying.sign_in(browser, person)
    page = result.response
    assert page.status_code == 200 and "Two-step verification" in page.text, page.text[:300]
    return relying, browser, result, page


def test_password_and_totp_give_mfa_otp_pwd(server, rp, enrolled):
    relying, browser, result, page = _password_step(server, rp, enrolled)
    done = submit_code(browser, page, _code(enrolled["secret"], 1), relying.redirect_uri)
    assert "code=" in done.headers["Location"], done.text[:300]
    result.response = done
    token = relying.redeem(result).json()
    claims = relying.verify_id_token(token["id_token"], result.nonce, token["access_token"])
    assert claims["amr"] == ["mfa", "otp", "pwd"]
    assert claims["acr"] == "urn:idp:acr:mfa"


def test_replayed_totp_code_is_refused(server, rp, enrolled):
    code = _code(enrolled["secret"], 1)
    relying, browser, _, page = _password_step(server, rp, enrolled)
    assert "code=" in submit_code(browser, page, code, relying.redirect_uri).headers["Location"]
    relying, browser, _, page = _password_step(server, rp, enrolled)
    again = submit_code(browser, page, code, relying.redirect_uri)
    assert again.status_code == 401 and "already used" in again.text


def test_code_two_steps_away_is_refused(server, rp, enrolled):
    relying, browser, _, page = _password_step(server, rp, enrolled)
    far = submit_code(browser, page, _code(enrolled["secret"], 3), relying.redirect_uri)
    assert far.status_code == 401 and "not right" in far.text


def test_password_and_backup_code_then_the_code_is_spent(server, rp, enrolled):
    relying, browser, result, page = _password_step(server, rp, enrolled)
    page = backup_code_page(browser, page)
    done = submit_code(browser, page, enrolled["codes"][0].lower(), relying.redirect_uri)
    result.response = done
    claims = relying.verify_id_token(relying.redeem(result).json()["id_token"], result.nonce, None)
    assert claims["amr"] == ["mfa", "otp", "pwd"]
    relying, browser, _, page = _password_step(server, rp, enrolled)
    page = backup_code_page(browser, page)
    spent = submit_code(browser, page, enrolled["codes"][0], relying.redirect_uri)
    assert spent.status_code == 401


def test_second_factor_page_is_needed_for_the_account_too(server, enrolled):
    browser = HostedPages(server.url)
    password_sign_in(browser, enrolled)
    account = browser.get(server.url + "/account/", allow_redirects=True)
    assert "Two-step verification" in account.text


def test_enrollment_codes_are_throttled_like_sign_in_codes(server):
    """Adding an authenticator app answers a challenge through the sign-in step's path: wrong
    codes count against the attempt limit and start the factor's back-off (IDP_BACKOFF_AFTER=5),
    so even the right code waits, and the app is not turned on."""
    person = server.create_user()
    browser = HostedPages(server.url)
    password_sign_in(browser, person, "security")
    url = server.url + "/account/security/totp"
    page = browser.get(url)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    near = {_code(secret, k) for k in range(-3, 4)}
    wrong = next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in near)

    def post(code: str):
        data = {"csrf_token": csrf_token(page.text), "challenge": hidden(page.text, "challenge")}
        return browser.post(url, data={**data, "name": "Throttled app", "code": code})

    for _ in range(5):
        page = post(wrong)
        assert page.status_code == 400 and "not right" in page.text, page.text[:400]
    page = post(_code(secret))
    assert page.status_code == 400 and "wait before trying again" in page.text, page.text[:400]
    security = browser.get(server.url + "/account/security/")
    assert "Throttled app" not in security.text and "<code>" not in page.text
