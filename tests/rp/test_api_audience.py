"""RFC 8707 on the resource server's side: an API accepts the tokens minted for it, no other's.

A client that names ``resource=URI`` gets an access token whose ``aud`` is that URI; without
one, its ``aud`` is the client id. An API verifies with ``TokenVerifier(..., resource=URI)``.
Tokens signed by the loopback stand-in, and one from the live provider (SQLite, PostgreSQL).
"""

from __future__ import annotations

import pytest
from flask import Flask

from idp.rp import InvalidToken, ProviderKeys, TokenVerifier, current_token, require_auth
from tests.support.oidc import HostedPages, RelyingParty

API_A = "https://api-a.example/"
API_B = "https://api-b.example/"


@pytest.fixture()
def apis(stub, verifier):
    """Verifiers for API A and API B that share one key cache (one JWKS fetch)."""
    return (
        TokenVerifier(stub.issuer, resource=API_A, keys=verifier.keys),
        TokenVerifier(stub.issuer, resource=API_B, keys=verifier.keys),
    )


def test_access_token_for_resource_a_is_refused_by_resource_b(stub, apis):
    api_a, api_b = apis
    token = stub.access_token(stub.keys[0], aud=API_A)
    assert api_a.verify_access_token(token).claims["aud"] == API_A
    with pytest.raises(InvalidToken, match="another audience"):
        api_b.verify_access_token(token)
    assert stub.hits["jwks"] == 1


def test_resource_b_behind_require_auth_answers_invalid_token(stub, apis):
    app = Flask(__name__)
    app.add_url_rule("/b", view_func=require_auth(apis[1])(lambda: "ok"))
    token = stub.access_token(stub.keys[0], aud=API_A)
    response = app.test_client().get("/b", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    assert response.json["error_description"].endswith("meant for another audience")


def test_token_a_client_got_without_naming_a_resource_is_refused_by_an_api(stub, apis):
    """Its ``aud`` is the client id: honouring it would let any API replay it to any other."""
    token = stub.access_token(stub.keys[0])  # aud: client-1
    for api in apis:
        with pytest.raises(InvalidToken, match="another audience"):
            api.verify_access_token(token)


def test_token_for_several_resources_is_accepted_by_each_and_no_other(stub, apis):
    token = stub.access_token(stub.keys[0], aud=[API_A, API_B])
    assert all(api.verify_access_token(token).subject == "user-1" for api in apis)
    other = TokenVerifier(stub.issuer, resource="https://api-c.example/", keys=apis[0].keys)
    with pytest.raises(InvalidToken, match="another audience"):
        other.verify_access_token(token)


def test_an_api_known_by_two_identifiers_accepts_either(stub, apis):
    both = TokenVerifier(stub.issuer, resource=[API_A, API_B], keys=apis[0].keys)
    assert both.verify_access_token(stub.access_token(stub.keys[0], aud=API_B))


@pytest.mark.parametrize("bad", ["api-a", "/relative", "https://api.example/#frag", ""])
def test_a_resource_must_be_an_absolute_uri_without_fragment(stub, bad):
    with pytest.raises(ValueError, match="absolute URI"):
        TokenVerifier(stub.issuer, resource=bad)


def test_a_verifier_needs_a_client_id_or_a_resource_and_id_tokens_need_the_client_id(stub):
    with pytest.raises(ValueError):
        TokenVerifier(stub.issuer)
    api = TokenVerifier(stub.issuer, resource=API_A)
    with pytest.raises(ValueError, match="client id"):
        api.verify_id_token(stub.sign(stub.keys[0]))


def test_a_web_app_with_both_checks_id_tokens_by_client_and_access_tokens_by_resource(stub, apis):
    both = TokenVerifier(stub.issuer, audience="client-1", resource=API_A, keys=apis[0].keys)
    assert both.verify_id_token(stub.sign(stub.keys[0])).subject == "user-1"
    assert both.verify_access_token(stub.access_token(stub.keys[0], aud=API_A))
    with pytest.raises(InvalidToken, match="another audience"):
        both.verify_access_token(stub.access_token(stub.keys[0]))


def test_the_live_providers_token_for_resource_a_is_refused_by_resource_b(server, user):
    client = server.create_client(
        "--name", "RP two APIs", "--redirect-uri", "http://localhost:9/apis", "--first-party",
        "--resource", API_A, "--resource", API_B,
    )  # fmt: skip
    relying = RelyingParty(server, client)
    signed_in = relying.sign_in(HostedPages(server.url), user, resource=API_A)
    assert signed_in.params.get("code"), signed_in.location
    access_token = relying.redeem(signed_in).json()["access_token"]

    keys = ProviderKeys(server.url)
    apps = {}
    for name, resource in (("a", API_A), ("b", API_B)):
        app = Flask(name)
        verifier = TokenVerifier(server.url, resource=resource, keys=keys)
        app.add_url_rule("/", view_func=require_auth(verifier)(lambda: current_token().subject))
        apps[name] = app.test_client()
    bearer = {"Authorization": f"Bearer {access_token}"}
    accepted = apps["a"].get("/", headers=bearer)
    assert accepted.status_code == 200 and accepted.text == user["sub"]
    refused = apps["b"].get("/", headers=bearer)
    assert refused.status_code == 401 and refused.json["error"] == "invalid_token"
    assert refused.json["error_description"].endswith("meant for another audience")
