"""Hostile or malformed input gets a 4xx in the protocol's format, never a 500.

Each case here answered 500 with an unhandled exception before its fix (issue: hardening, 1).
"""

from __future__ import annotations

import base64
import json

import pytest
import requests

from tests.support.factors import password_sign_in
from tests.support.oidc import HostedPages

NOT_UTF8_BASIC = "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()
ENDPOINTS = {
    "token": {"grant_type": "client_credentials"},
    "introspect": {"token": "x"},
    "revoke": {"token": "x"},
}


def _jose(header: dict) -> str:
    """A token-shaped value with this JOSE header (never validly signed)."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part({'sub': 'x'})}.AAAA"


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("authorization", ["Bearer ", "Basic", NOT_UTF8_BASIC, "Basic !!!"])
def test_malformed_client_credentials_are_invalid_client(server, endpoint, authorization):
    response = requests.post(
        f"{server.url}/{endpoint}",
        data=ENDPOINTS[endpoint],
        headers={"Authorization": authorization},
        timeout=30,
    )
    assert response.status_code == 401, response.text[:200]
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("typ", [1, None, ["JWT"]], ids=["number", "null", "list"])
def test_token_with_a_strange_jose_header_is_just_not_valid(server, rp, typ):
    token = _jose({"alg": "RS256", "typ": typ, "kid": "x"})
    auth = (rp["client_id"], rp["client_secret"])
    introspected = requests.post(f"{server.url}/introspect", data={"token": token}, auth=auth)
    assert introspected.status_code == 200 and introspected.json() == {"active": False}
    revoked = requests.post(f"{server.url}/revoke", data={"token": token}, auth=auth)
    assert revoked.status_code == 200, revoked.text[:200]
    userinfo = requests.get(f"{server.url}/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert userinfo.status_code == 401 and userinfo.json()["error"] == "invalid_token"


@pytest.mark.parametrize("path", ["/mfa/{}", "/mfa/code/{}", "/mfa/passkey/{}"])
@pytest.mark.parametrize("number", [2**31, 2**63])
def test_an_id_beyond_any_row_is_not_found(server, path, number):
    browser = HostedPages(server.url)
    password_sign_in(browser, server.create_user())
    response = browser.get(server.url + path.format(number), allow_redirects=False)
    assert response.status_code == 404, response.text[:200]
