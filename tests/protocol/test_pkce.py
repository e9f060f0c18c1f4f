"""PKCE (RFC 7636, S256) for every client (RFC 9700 2.1.1), confidential ones included, unless a
client was registered with the audited opt-out."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import requests

from tests.support.oidc import HostedPages, RelyingParty


def _query(response) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def test_confidential_client_without_pkce_is_refused(server, rp):
    params = {"response_type": "code", "client_id": rp["client_id"], "scope": "openid",
              "redirect_uri": rp["redirect_uris"][0], "state": "st"}  # fmt: skip
    response = requests.get(server.url + "/authorize", params=params, allow_redirects=False)
    assert _query(response)["error"] == "invalid_request"
    assert "PKCE" in _query(response)["error_description"] and _query(response)["state"] == "st"


def test_opted_out_client_completes_the_flow_without_pkce(server, no_pkce_rp, user):
    relying, browser = RelyingParty(server, no_pkce_rp), HostedPages(server.url)
    url = relying.session.create_authorization_url(
        relying.meta["authorization_endpoint"], nonce=secrets.token_urlsafe(8)
    )[0]
    response = browser.follow(url.replace("code_challenge", "x_none"), relying.redirect_uri)
    if 'name="password"' in response.text:
        response = browser.submit_login(
            response, user["email"], user["password"], relying.redirect_uri
        )
    code = _query(response)["code"]
    token = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "authorization_code", "code": code, "redirect_uri": relying.redirect_uri},
    )
    assert token.status_code == 200 and "id_token" in token.json(), token.text
