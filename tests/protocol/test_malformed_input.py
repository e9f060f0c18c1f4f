"""Hostile or malformed input gets a 4xx in the protocol's format, never a 500.

Each case here answered 500 with an unhandled exception before its fix (issue: hardening, 1).
"""

from __future__ import annotations

import base64
import json

import pytest
import requests

from tests.support.factors import password_sign_in
from tests.support.oidc import HostedPages, authorization_params, authorize, csrf_token

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


def _code_request(rp, **extra) -> dict:
    return authorization_params(rp, **{"nonce": "n", **extra})


@pytest.mark.parametrize(
    "bad",
    [
        {"redirect_uri": "http://localhost:9/cb\r\nX: y"},
        {"redirect_uri": "http://localhost:9/cb\x00"},
        {"response_type": "c\nde"},
        {"response_type": "cödé"},
        {"client_id": "nobody\x00"},
        {"nonce": "n\x00"},
        {"nonce": "n" * 600},
        {"state": "s\x00"},
        {"claims": "[" * 20000},
        {"scope": " ".join(["openid"] * 300)},
        {"login_hint": "someone\x00@example.com"},
    ],
    ids=lambda bad: f"{next(iter(bad))}",
)
def test_malformed_authorization_request_is_refused_without_a_500(server, rp, bad):
    response = authorize(server, _code_request(rp, **bad))
    assert response.status_code in (302, 400), response.text[:300]
    assert "Traceback" not in response.text
    if response.status_code == 302:
        assert "error=invalid_request" in response.headers["Location"]
    value = next(iter(bad.values()))
    assert value not in response.text and value not in response.headers.get("Location", "")


@pytest.mark.parametrize("name", ["nonce", "acr_values", "redirect_uri", "state"])
def test_repeated_authorization_parameter_is_invalid_request(server, rp, name):
    value = _code_request(rp).get(name, "urn:idp:acr:mfa")
    pairs = [(k, v) for k, v in _code_request(rp).items() if k != name] + [(name, value)] * 2
    response = authorize(server, pairs)
    assert response.status_code == 400 and "invalid_request" in response.text


def test_repeated_token_parameter_is_invalid_request(server, rp):
    data = [("grant_type", "client_credentials"), ("grant_type", "client_credentials")]
    response = requests.post(
        f"{server.url}/token", data=data, auth=(rp["client_id"], rp["client_secret"])
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_nul_in_a_protocol_parameter_is_invalid_request_in_json(server, rp, endpoint):
    data = {**ENDPOINTS[endpoint], "client_id": "x\x00y"}
    response = requests.post(f"{server.url}/{endpoint}", data=data)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("path", "field"),
    [("/login", "email"), ("/login", "password"), ("/password/forgot", "email")],
)
def test_nul_in_a_form_field_is_a_friendly_400(server, path, field):
    browser = HostedPages(server.url)
    page = browser.get(server.url + path)
    data = {"csrf_token": csrf_token(page.text), "email": "a@example.com", "password": "pw"}
    response = browser.post(server.url + path, data={**data, field: "x\x00y"})
    assert response.status_code == 400 and "not allowed" in response.text


def test_nul_in_the_user_agent_is_a_friendly_400(server):
    response = requests.get(f"{server.url}/login", headers={"User-Agent": "a\x00b"})
    assert response.status_code == 400 and "not allowed" in response.text
