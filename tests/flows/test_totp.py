"""Password + TOTP and password + backup code through the live server and a real OIDC client."""

from __future__ import annotations

import re
import time
from html import unescape

import pyotp
import pytest

from tests.support.oidc import HostedPages, RelyingParty, csrf_token, submit_code


def _code(secret: str, step_offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * step_offset)


@pytest.fixture()
def enrolled(server):
    """A user with an authenticator app and backup codes, enrolled through the security page."""
    person = server.create_user()
    browser = HostedPages(server.url)
    page = browser.get(server.url + "/login")
    browser.post(
        server.url + "/login",
        data={"csrf_token": csrf_token(page.text), "email": person["email"],
              "password": person["password"], "next": "security"},
    )  # fmt: skip
    page = browser.get(server.url + "/account/security/totp")
    assert page.status_code == 200 and "<svg" in page.text
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    done = browser.post(
        server.url + "/account/security/totp",
        data={"csrf_token": csrf_token(page.text), "name": "Phone", "code": _code(secret)},
    )
    assert done.status_code == 200, done.text[:400]
    codes = [unescape(c) for c in re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", done.text)]
    assert len(codes) == 10
    return {**person, "secret": secret, "codes": codes}


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
    backup_link = re.search(r'href="(/mfa/\d+\?next=[^"]*)">\s*Use a backup code', page.text)
    page = browser.get(server.url + unescape(backup_link.group(1)))
    done = submit_code(browser, page, enrolled["codes"][0].lower(), relying.redirect_uri)
    result.response = done
    claims = relying.verify_id_token(relying.redeem(result).json()["id_token"], result.nonce, None)
    assert claims["amr"] == ["mfa", "otp", "pwd"]
    relying, browser, _, page = _password_step(server, rp, enrolled)
    page = browser.get(server.url + unescape(re.search(
        r'href="(/mfa/\d+\?next=[^"]*)">\s*Use a backup code', page.text).group(1)))  # fmt: skip
    spent = submit_code(browser, page, enrolled["codes"][0], relying.redirect_uri)
    assert spent.status_code == 401


def test_second_factor_page_is_needed_for_the_account_too(server, enrolled):
    browser = HostedPages(server.url)
    page = browser.get(server.url + "/login")
    browser.post(
        server.url + "/login",
        data={"csrf_token": csrf_token(page.text), "email": enrolled["email"],
              "password": enrolled["password"]},
    )  # fmt: skip
    account = browser.get(server.url + "/account/", allow_redirects=True)
    assert "Two-step verification" in account.text
