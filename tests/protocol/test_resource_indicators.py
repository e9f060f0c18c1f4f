"""Resource indicators (RFC 8707): access tokens for the APIs a client names, and only those.

Live provider (SQLite and PostgreSQL), real requests; the access token's ``aud`` is read from
the JWT the provider signed and from introspection.
"""

from __future__ import annotations

from urllib.parse import urlencode

import jwt
import pytest
import requests

from tests.support.oidc import (
    AuthorizationResult,
    HostedPages,
    RelyingParty,
    authorization_params,
    authorize,
    redirect_query,
)

API_A = "https://api-a.example/"
API_B = "https://api-b.example/v2"
UNREGISTERED = "https://elsewhere.example/"


@pytest.fixture(scope="module")
def api_rp(server):
    return server.create_client(
        "--name", "API RP", "--redirect-uri", "http://localhost:9/api-cb", "--first-party",
        "--resource", API_A, "--resource", API_B,
    )  # fmt: skip


@pytest.fixture(scope="module")
def machine(server):
    return server.create_client(
        "--name", "API machine", "--grant-type", "client_credentials", "--resource", API_A
    )


def _aud(access_token: str) -> str | list[str]:
    return jwt.decode(access_token, options={"verify_signature": False})["aud"]


def _signed_in(server, client, user, **params):
    relying = RelyingParty(server, client)
    result = relying.sign_in(HostedPages(server.url), user, **params)
    assert result.params.get("code"), result.location
    return relying, result


def _introspect(server, client: dict, token: str) -> dict:
    response = requests.post(
        server.url + "/introspect",
        data={"token": token},
        auth=(client["client_id"], client["client_secret"]),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_token_is_for_the_resource_the_authorization_asked(server, api_rp, user):
    relying, result = _signed_in(server, api_rp, user, resource=API_A)
    token = relying.redeem(result).json()
    assert _aud(token["access_token"]) == API_A
    assert _introspect(server, api_rp, token["access_token"])["aud"] == API_A
    id_claims = relying.verify_id_token(token["id_token"], result.nonce, token["access_token"])
    assert id_claims["aud"] == api_rp["client_id"]  # the ID token stays the client's


def test_without_resource_the_token_is_the_clients_as_before(server, api_rp, user):
    relying, result = _signed_in(server, api_rp, user)
    token = relying.redeem(result).json()
    assert _aud(token["access_token"]) == api_rp["client_id"]


def test_token_request_narrows_but_never_widens_the_grant(server, api_rp, user):
    relying, result = _signed_in(server, api_rp, user, resource=API_A)
    widened = relying.redeem(result, resource=API_B)
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_target"
    again = relying.redeem(result, resource=API_A)  # the refusal consumed nothing
    assert again.status_code == 200, again.text
    assert _aud(again.json()["access_token"]) == API_A


def test_refresh_narrows_to_one_resource_and_keeps_the_grant_whole(server, api_rp, user):
    relying, browser = RelyingParty(server, api_rp), HostedPages(server.url)
    url, state, nonce, verifier = relying.authorization_url()
    both = urlencode([("resource", API_A), ("resource", API_B)])
    page = browser.follow(f"{url}&{both}", stop_at=relying.redirect_uri)
    back = browser.submit_login(page, user["email"], user["password"], relying.redirect_uri)
    token = relying.redeem(AuthorizationResult(back, state, nonce, verifier)).json()
    assert sorted(_aud(token["access_token"])) == sorted([API_A, API_B])

    first = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "resource": API_B},
    )
    assert first.status_code == 200, first.text
    assert _aud(first.json()["access_token"]) == API_B
    second = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"],
         "resource": API_A},
    )  # fmt: skip
    assert second.status_code == 200, second.text
    assert _aud(second.json()["access_token"]) == API_A
    refused = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": second.json()["refresh_token"],
         "resource": UNREGISTERED},
    )  # fmt: skip
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"
    kept = relying.post(
        relying.meta["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": second.json()["refresh_token"]},
    )  # the refused request rotated nothing
    assert kept.status_code == 200, kept.text


@pytest.mark.parametrize(
    "resource", [UNREGISTERED, "/relative/api", "https://api-a.example/#fragment", "urn:x"]
)
def test_authorization_for_an_unregistered_or_malformed_resource_is_invalid_target(
    server, api_rp, resource
):
    params = authorization_params(api_rp, resource=resource)
    response = authorize(server, params)
    assert response.status_code == 302
    query = redirect_query(response)
    assert query["error"] == "invalid_target" and query["state"] == params["state"]
    assert resource not in response.headers["Location"].split("error_description")[-1]


def test_client_credentials_token_for_a_registered_resource(server, machine):
    def token(**extra):
        return requests.post(
            server.url + "/token",
            data={"grant_type": "client_credentials", **extra},
            auth=(machine["client_id"], machine["client_secret"]),
            timeout=30,
        )

    issued = token(resource=API_A)
    assert issued.status_code == 200, issued.text
    assert _aud(issued.json()["access_token"]) == API_A
    assert _introspect(server, machine, issued.json()["access_token"])["aud"] == API_A
    assert _aud(token().json()["access_token"]) == machine["client_id"]
    refused = token(resource=API_B)  # registered for another client, not this one
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"


def test_resource_may_repeat_but_other_parameters_may_not(server, machine):
    data = [("grant_type", "client_credentials"), ("resource", API_A), ("resource", API_A)]
    auth = (machine["client_id"], machine["client_secret"])
    repeated = requests.post(server.url + "/token", data=data, auth=auth, timeout=30)
    assert repeated.status_code == 200 and _aud(repeated.json()["access_token"]) == API_A
    many = requests.post(
        server.url + "/token",
        data=[("grant_type", "client_credentials"), *[("resource", API_A)] * 11],
        auth=auth,
        timeout=30,
    )
    assert many.status_code == 400 and many.json()["error"] == "invalid_request"
