"""The whole authorization-code flow with PKCE, through the live server and a real OIDC client."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl, urljoin

import jwt
import requests

from tests.support.oidc import AuthorizationResult, HostedPages, RelyingParty

CALLBACK = "http://localhost:9/cb"  # the ``rp`` fixture's redirect URI


def _signed_in(server, rp, user, **params):
    relying = RelyingParty(server, rp)
    browser = HostedPages(server.url)
    result = relying.sign_in(browser, user, **params)
    assert result.location.startswith(relying.redirect_uri), result.response.text[:500]
    assert result.params["state"] == result.state
    return relying, browser, result


def test_sign_in_with_password_gives_verified_id_token_with_pwd_amr(server, rp, user):
    relying, _, result = _signed_in(server, rp, user)
    response = relying.redeem(result)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json()
    claims = relying.verify_id_token(token["id_token"], result.nonce, token["access_token"])
    assert claims["sub"] == user["sub"]
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:idp:acr:pwd"
    assert abs(claims["auth_time"] - time.time()) < 60
    assert claims["email"] == user["email"]
    assert claims["sid"]


def test_posted_authorization_request_survives_the_sign_in(server, rp, user):
    """OIDC Core 3.1.2.1: the request may be POSTed. Its parameters are in the form, which no
    redirect to the sign-in page carries: the provider resumes it as the GET it becomes."""
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    url, state, nonce, verifier = relying.authorization_url(max_age="600")
    endpoint, _, query = url.partition("?")
    posted = browser.post(endpoint, data=dict(parse_qsl(query)), allow_redirects=False)
    assert posted.status_code == 303
    page = browser.follow(urljoin(server.url, posted.headers["Location"]), stop_at=CALLBACK)
    back = browser.submit_login(page, user["email"], user["password"], stop_at=CALLBACK)
    result = AuthorizationResult(back, state, nonce, verifier)
    assert result.params["state"] == state, back.text[:300]
    token = relying.redeem(result).json()
    claims = relying.verify_id_token(token["id_token"], nonce, token["access_token"])
    assert claims["sub"] == user["sub"] and claims["amr"] == ["pwd"]


def test_access_token_is_an_rfc9068_jwt_with_authentication_context(server, rp, user):
    relying, _, result = _signed_in(server, rp, user)
    token = relying.redeem(result).json()
    header = jwt.get_unverified_header(token["access_token"])
    assert header["typ"] == "at+jwt"
    key = jwt.PyJWKClient(relying.meta["jwks_uri"]).get_signing_key_from_jwt(token["access_token"])
    claims = jwt.decode(
        token["access_token"],
        key.key,
        algorithms=[header["alg"]],
        audience=rp["client_id"],
        issuer=server.url,
    )
    assert claims["client_id"] == rp["client_id"]
    assert claims["amr"] == ["pwd"] and claims["acr"] and claims["auth_time"]
    assert "openid" in claims["scope"].split()


def test_userinfo_answers_get_and_post(server, rp, user):
    relying, _, result = _signed_in(server, rp, user)
    access = relying.redeem(result).json()["access_token"]
    userinfo = relying.meta["userinfo_endpoint"]
    got = requests.get(userinfo, headers={"Authorization": f"Bearer {access}"})
    posted = requests.post(userinfo, data={"access_token": access})
    assert got.status_code == posted.status_code == 200
    assert got.json() == posted.json()
    assert got.json()["sub"] == user["sub"] and got.json()["email"] == user["email"]


def test_claims_without_a_value_are_left_out_of_id_token_and_userinfo(server, rp):
    """OIDC Core 5.3.2: a claim that is not returned is omitted, never present with an empty
    value. A user without a name has no ``name`` claim; a named one has it."""
    nameless = server.create_user()
    email, password = f"named-{time.time_ns()}@example.com", "correct horse battery"
    out = server.cli(
        "users", "create", email, "--password-stdin", "--name", "Ada Lovelace",
        stdin=password + "\n",
    )  # fmt: skip
    named = {**json.loads(out.stdout), "password": password}
    for person, name in ((nameless, None), (named, "Ada Lovelace")):
        relying, _, result = _signed_in(server, rp, person)
        token = relying.redeem(result).json()
        claims = relying.verify_id_token(token["id_token"], result.nonce, token["access_token"])
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        info = requests.get(relying.meta["userinfo_endpoint"], headers=bearer, timeout=10).json()
        for released in (claims, info):
            assert released.get("name") == name, released
            assert ("name" in released) is (name is not None), released
            assert released["email_verified"] is False  # false is a value: it stays


def test_userinfo_refuses_a_bad_token_with_bearer_error(server):
    response = requests.get(server.url + "/userinfo", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_refresh_rotates_and_keeps_authentication_context(server, rp, user):
    relying, _, result = _signed_in(server, rp, user)
    first = relying.redeem(result).json()
    response = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    old = jwt.decode(first["access_token"], options={"verify_signature": False})
    new = jwt.decode(second["access_token"], options={"verify_signature": False})
    assert (new["acr"], new["amr"], new["auth_time"]) == (old["acr"], old["amr"], old["auth_time"])


def test_introspection_shows_acr_amr_auth_time_and_revocation_ends_it(server, rp, user):
    relying, _, result = _signed_in(server, rp, user)
    token = relying.redeem(result).json()
    introspect = relying.meta["introspection_endpoint"]
    active = relying.post(introspect, {"token": token["access_token"]}).json()
    assert active["active"] is True
    assert active["amr"] == ["pwd"] and active["acr"] and active["auth_time"]
    assert active["sub"] == user["sub"] and active["client_id"] == rp["client_id"]
    revoked = relying.post(relying.meta["revocation_endpoint"], {"token": token["refresh_token"]})
    assert revoked.status_code == 200
    assert relying.post(introspect, {"token": token["access_token"]}).json() == {"active": False}
    assert relying.post(introspect, {"token": token["refresh_token"]}).json() == {"active": False}
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(relying.meta["userinfo_endpoint"], headers=bearer).status_code == 401


def test_sso_second_authorization_needs_no_password(server, rp, user):
    relying, browser, first = _signed_in(server, rp, user)
    url, state, _, _ = relying.authorization_url()
    response = browser.follow(url, stop_at=relying.redirect_uri)
    assert response.headers["Location"].startswith(relying.redirect_uri)
    assert f"state={state}" in response.headers["Location"]


def test_rp_initiated_logout_ends_session_and_redirects_with_state(server, rp, user):
    relying, browser, result = _signed_in(server, rp, user)
    id_token = relying.redeem(result).json()["id_token"]
    response = browser.get(
        relying.meta["end_session_endpoint"],
        params={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": "http://localhost:9/bye",
            "state": "s1",
        },
        allow_redirects=False,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "http://localhost:9/bye?state=s1"
    url, *_ = relying.authorization_url(prompt="none")
    after = browser.follow(url, stop_at=relying.redirect_uri)
    assert "error=login_required" in after.headers["Location"]


def test_public_client_with_pkce_gets_tokens_without_secret(server, public_rp, user):
    relying, _, result = _signed_in(server, public_rp, user)
    response = relying.redeem(result)
    assert response.status_code == 200, response.text
    assert "id_token" in response.json()


def test_client_credentials_grant_for_machine_clients(server):
    machine = server.create_client("--name", "Machine", "--grant-type", "client_credentials")
    response = requests.post(
        server.url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(machine["client_id"], machine["client_secret"]),
    )
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == machine["client_id"] and "refresh_token" not in response.json()
