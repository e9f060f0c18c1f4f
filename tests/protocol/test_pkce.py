"""PKCE (RFC 7636, S256) for every client (RFC 9700 2.1.1), confidential ones included, unless a
client was registered with the audited opt-out."""

from __future__ import annotations

import secrets

from tests.support.oidc import (
    HostedPages,
    RelyingParty,
    authorization_params,
    authorize,
    redirect_query,
)


def test_confidential_client_without_pkce_is_refused(server, rp):
    response = authorize(server, authorization_params(rp, pkce=False))
    query = redirect_query(response)
    assert query["error"] == "invalid_request"
    assert "PKCE" in query["error_description"] and query["state"] == "st"


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
    code = redirect_query(response)["code"]
    token = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "authorization_code", "code": code, "redirect_uri": relying.redirect_uri},
    )
    assert token.status_code == 200 and "id_token" in token.json(), token.text
