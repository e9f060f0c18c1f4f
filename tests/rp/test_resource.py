"""The ``require_auth`` decorator on a Flask app, with tokens verified against the loopback JWKS."""

from __future__ import annotations

import time

import pytest
from flask import Flask, g
from werkzeug.datastructures import WWWAuthenticate

from idp.rp import (
    MFA,
    PHR,
    ProviderKeys,
    StepUpChallenge,
    TokenVerifier,
    current_token,
    require_auth,
)


@pytest.fixture()
def api(verifier):
    app = Flask(__name__)

    @app.get("/profile")
    @require_auth(verifier)
    def profile():
        return {"sub": current_token().subject, "same": g.rp_token is current_token()}

    @app.get("/billing")
    @require_auth(verifier, acr_values=[MFA], max_age=300)
    def billing():
        return {"acr": g.rp_token.acr}

    @app.post("/delete")
    @require_auth(verifier, acr_values=PHR, amr="hwk", realm="demo")
    def delete():
        return {"deleted": False}

    return app.test_client()


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _challenge(response):
    parsed = WWWAuthenticate.from_header(response.headers["WWW-Authenticate"])
    return parsed.type, dict(parsed.parameters)


def test_valid_token_reaches_the_view_and_g(stub, api):
    response = api.get("/profile", headers=_bearer(stub.access_token(stub.keys[0])))
    assert response.status_code == 200
    assert response.json == {"sub": "user-1", "same": True}


def test_no_credentials_get_a_bare_challenge(api):
    response = api.get("/profile")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "error" not in response.json
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Negotiate abc", "Bearer_x y", ""])
def test_another_scheme_is_no_bearer_credentials_and_gets_a_bare_challenge(api, value):
    """RFC 6750 3.1: "attempted using an unsupported authentication method" is answered like
    no authentication at all, without an error code."""
    response = api.get("/profile", headers={"Authorization": value})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "error" not in response.json


@pytest.mark.parametrize("value", ["Bearer", "Bearer a b", 'Bearer "x"', "bearer  ,"])
def test_malformed_bearer_values_are_invalid_tokens(api, value):
    response = api.get("/profile", headers={"Authorization": value})
    assert response.status_code == 401
    assert _challenge(response)[1]["error"] == "invalid_token"


def test_invalid_token_says_why_without_echoing_it(stub, api):
    expired = stub.access_token(stub.keys[0], exp=int(time.time()) - 3600)
    response = api.get("/profile", headers=_bearer(expired))
    assert response.status_code == 401
    scheme, params = _challenge(response)
    assert scheme == "bearer" and params["error"] == "invalid_token"
    assert params["error_description"] == "The access token is not valid: the token has expired"
    assert response.json["error"] == "invalid_token"
    assert expired not in response.get_data(as_text=True)


def test_id_token_is_not_an_access_token(stub, api):
    response = api.get("/profile", headers=_bearer(stub.sign(stub.keys[0])))
    assert (
        response.status_code == 401 and "not an access token" in response.json["error_description"]
    )


def test_password_token_is_told_to_step_up(stub, api):
    token = stub.access_token(stub.keys[0], acr="urn:idp:acr:pwd", amr=["pwd"])
    response = api.get("/billing", headers=_bearer(token))
    assert response.status_code == 401
    header = response.headers["WWW-Authenticate"]
    assert header == (
        'Bearer error="insufficient_user_authentication", error_description="This resource '
        f'needs an authentication level of at least {MFA}", acr_values="{MFA}", max_age=300'
    )
    assert _challenge(response) == (
        "bearer",
        {
            "error": "insufficient_user_authentication",
            "error_description": f"This resource needs an authentication level of at least {MFA}",
            "acr_values": MFA,
            "max_age": "300",
        },
    )
    assert response.json == {
        "error": "insufficient_user_authentication",
        "error_description": f"This resource needs an authentication level of at least {MFA}",
        "acr_values": MFA,
        "max_age": 300,
    }
    challenge = StepUpChallenge.from_header(header)
    assert challenge.needs_step_up and challenge.acr_values == (MFA,) and challenge.max_age == 300


def test_stronger_level_passes_and_old_authentication_does_not(stub, api):
    phr = stub.access_token(stub.keys[0], acr=PHR, amr=["hwk", "mfa", "user"])
    assert api.get("/billing", headers=_bearer(phr)).json == {"acr": PHR}
    old = stub.access_token(stub.keys[0], acr=PHR, auth_time=int(time.time()) - 301)
    response = api.get("/billing", headers=_bearer(old))
    assert response.status_code == 401
    assert "within the last 300 seconds" in response.json["error_description"]


def test_amr_shortfall_is_insufficient_user_authentication_too(stub, api):
    synced = stub.access_token(stub.keys[0], acr=PHR, amr=["mfa", "swk", "user"])
    response = api.post("/delete", headers=_bearer(synced))
    scheme, params = _challenge(response)
    assert response.status_code == 401 and params["error"] == "insufficient_user_authentication"
    assert params["realm"] == "demo" and params["acr_values"] == PHR and "max_age" not in params
    device_bound = stub.access_token(stub.keys[0], acr=PHR, amr=["hwk", "mfa", "user"])
    assert api.post("/delete", headers=_bearer(device_bound)).status_code == 200


def test_unreachable_provider_is_503_not_401(stub):
    verifier = TokenVerifier(
        "http://127.0.0.1:9",
        audience="client-1",
        keys=ProviderKeys("http://127.0.0.1:9", timeout=2),
    )
    app = Flask(__name__)
    app.add_url_rule("/x", view_func=require_auth(verifier)(lambda: "ok"))
    response = app.test_client().get("/x", headers=_bearer(stub.access_token(stub.keys[0])))
    assert response.status_code == 503 and "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("bad", ['urn:"quoted"', "urn:caf\u00e9"])
def test_an_acr_value_no_header_can_carry_fails_at_decoration_not_at_request_time(verifier, bad):
    with pytest.raises(ValueError):
        require_auth(verifier, acr_values=[bad])
