"""The demo relying app's step-up pages, driven over HTTP through the real hosted pages.

One ``requests`` session plays the browser on both the demo app and the provider (cookies
ignore ports; the two session cookies have different names), filling the forms as a person
without JavaScript would.
"""

from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests

from idp.rp import MFA, PHR
from tests.support.demo import demo_app
from tests.support.factors import enroll_totp
from tests.support.oidc import HostedPages, csrf_token, hidden, submit_code


@pytest.fixture(scope="module")
def demo(server):
    with demo_app(server, "Step-up demo") as base:
        yield base


def _sign_in(server, demo: str, person: dict) -> HostedPages:
    """Press "Sign in with idp" and fill the password form; land on the demo's profile."""
    browser = HostedPages(server.url)
    page = browser.post(demo + "/login")
    assert page.url.startswith(server.url + "/login"), page.url
    data = {
        "csrf_token": csrf_token(page.text),
        "email": person["email"],
        "password": person["password"],
        "next": hidden(page.text, "next"),
    }
    home = browser.post(server.url + "/login", data=data)
    assert home.url == demo + "/" and person["email"] in home.text, home.text[:300]
    return browser


def _authorize_params(response: requests.Response, server) -> dict:
    """The query of the authorization request the demo app redirected to."""
    url = next(
        r.headers["Location"]
        for r in response.history
        if "/authorize" in r.headers.get("Location", "")
    )
    assert url.startswith(server.url + "/authorize")
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_billing_steps_up_with_totp_and_returns_to_billing(server, demo):
    person = server.create_user()
    browser = _sign_in(server, demo, person)
    assert "urn:idp:acr:pwd" in browser.get(demo + "/").text
    person = enroll_totp(server, person)

    page = browser.get(demo + "/billing")
    assert page.url.startswith(server.url) and 'name="code"' in page.text, page.text[:300]
    assert _authorize_params(page, server)["acr_values"] == MFA
    code = pyotp.TOTP(person["secret"]).at(time.time() + 30)  # enrollment spent the current step
    callback = submit_code(browser, page, code, stop_at=demo)
    billing = browser.get(callback.headers["Location"])
    assert billing.url == demo + "/billing", billing.text[:300]
    assert "<h1>Billing</h1>" in billing.text and MFA in billing.text
    assert browser.get(demo + "/billing", allow_redirects=False).status_code == 200  # no loop


def test_delete_account_without_a_passkey_offers_one_then_explains_and_links_to_security(
    server, demo
):
    """The provider offers to add a passkey right there (issue 12, 5e); declined, the essential
    request is unmet and the demo says why."""
    person = server.create_user()
    browser = _sign_in(server, demo, person)
    page = browser.get(demo + "/account/delete")
    params = _authorize_params(page, server)
    assert params["acr_values"] == PHR and params["max_age"] == "300"
    assert '"essential":true' in params["claims"]
    assert page.url.startswith(server.url + "/enroll/"), page.url
    assert "Step-up demo asks for a stronger sign-in" in page.text
    data = {"csrf_token": csrf_token(page.text), "next": hidden(page.text, "next")}
    page = browser.post(server.url + "/enroll/skip", data=data)
    assert page.status_code == 403 and page.url.startswith(demo + "/callback?error=")
    assert "no phishing-resistant factor (a passkey)" in page.text
    assert f'href="{server.url}/account/security"' in unescape(page.text)


def test_delete_form_needs_its_csrf_token(server, demo):
    browser = _sign_in(server, demo, server.create_user())
    refused = browser.post(demo + "/account/delete", data={"csrf_token": "forged"})
    assert refused.status_code == 400 and "form expired" in refused.text


def test_signed_out_visit_to_billing_signs_in_at_the_mfa_level(server, demo):
    browser = HostedPages(server.url)
    page = browser.get(demo + "/billing")
    assert page.url.startswith(server.url + "/login")
    assert _authorize_params(page, server)["acr_values"] == MFA
    assert re.search(r'name="password"', page.text)
