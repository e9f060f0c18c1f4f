"""``require_auth`` per route: ``scope=`` (RFC 6750 3.1) and whether a user must stand behind the
token -- a client's own token (client credentials) gets a plain 403, never a step-up challenge.
"""

from __future__ import annotations

import threading

import pytest
import requests
from flask import Flask
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.serving import make_server

from idp.rp import MFA, AccessRule, TokenVerifier, UserRequired, current_token, require_auth
from tests.support.oidc import client_credentials_token


def _api(verifier: TokenVerifier) -> Flask:
    app = Flask(__name__)

    @app.get("/invoices")
    @require_auth(verifier, scope="invoices:read")
    def invoices():
        return {"sub": current_token().subject}

    @app.post("/invoices")
    @require_auth(verifier, scope=["invoices:read", "invoices:write"], acr_values=[MFA])
    def pay():
        return {"paid": True}

    @app.get("/status")
    @require_auth(verifier, scope="status", user=False)
    def status():
        return {"client": current_token().claims["client_id"]}

    @app.get("/me")
    @require_auth(verifier)
    def me():
        return {"sub": current_token().subject}

    return app


@pytest.fixture()
def api(verifier):
    return _api(verifier).test_client()


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _challenge(response) -> dict:
    parsed = WWWAuthenticate.from_header(response.headers["WWW-Authenticate"])
    assert parsed.type == "bearer"
    return dict(parsed.parameters)


def _machine_token(stub, **claims) -> str:
    """What the provider issues for client credentials: sub is the client, no auth_time."""
    return stub.access_token(stub.keys[0], sub="client-1", auth_time=None, **claims)


def test_token_without_the_routes_scope_is_403_insufficient_scope_naming_it(stub, api):
    response = api.get("/invoices", headers=_bearer(stub.access_token(stub.keys[0])))
    assert response.status_code == 403
    assert _challenge(response) == {
        "error": "insufficient_scope",
        "error_description": "This resource needs the scope invoices:read",
        "scope": "invoices:read",
    }
    assert response.json["error"] == "insufficient_scope"
    assert response.json["scope"] == "invoices:read"


def test_the_challenge_names_every_scope_the_route_needs(stub, api):
    token = stub.access_token(stub.keys[0], scope="openid invoices:read", acr=MFA)
    response = api.post("/invoices", headers=_bearer(token))
    assert response.status_code == 403
    assert _challenge(response)["scope"] == "invoices:read invoices:write"


def test_token_with_every_scope_passes(stub, api):
    token = stub.access_token(stub.keys[0], scope="openid invoices:write invoices:read", acr=MFA)
    assert api.get("/invoices", headers=_bearer(token)).json == {"sub": "user-1"}
    assert api.post("/invoices", headers=_bearer(token)).json == {"paid": True}


def test_missing_scope_is_told_before_step_up(stub, api):
    """Signing in again adds no scope: a weak token without the scope hears about the scope."""
    token = stub.access_token(stub.keys[0], scope="invoices:read", acr="urn:idp:acr:pwd")
    response = api.post("/invoices", headers=_bearer(token))
    assert response.status_code == 403 and _challenge(response)["error"] == "insufficient_scope"
    token = stub.access_token(
        stub.keys[0], scope="invoices:read invoices:write", acr="urn:idp:acr:pwd"
    )
    response = api.post("/invoices", headers=_bearer(token))
    assert response.status_code == 401
    assert _challenge(response)["error"] == "insufficient_user_authentication"


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/me"), ("get", "/invoices"), ("post", "/invoices")]
)
def test_client_credentials_token_is_refused_where_a_user_is_required(stub, api, method, path):
    token = _machine_token(stub, scope="invoices:read invoices:write status")
    response = getattr(api, method)(path, headers=_bearer(token))
    assert response.status_code == 403
    params = _challenge(response)
    assert params["error"] == "insufficient_scope" and "acr_values" not in params
    assert "client credentials" in params["error_description"]
    assert "user" in response.json["error_description"]


def test_client_credentials_token_is_accepted_where_no_user_is_needed(stub, api):
    token = _machine_token(stub, scope="status")
    assert api.get("/status", headers=_bearer(token)).json == {"client": "client-1"}
    assert api.get("/status", headers=_bearer(_machine_token(stub))).status_code == 403


@pytest.mark.parametrize(
    ("claims", "has_user"),
    [
        ({}, True),
        ({"sub": "client-1", "auth_time": None}, False),  # what the provider issues
        ({"sub": "client-1"}, False),  # sub is the client: no user, whatever else it says
        ({"auth_time": None}, False),  # no sign-in time: cannot stand for a user
        ({"acr": None, "amr": None}, True),  # a user's token may carry no acr
    ],
)
def test_how_a_clients_own_token_is_recognised(stub, verifier, claims, has_user):
    token = verifier.verify_access_token(stub.access_token(stub.keys[0], **claims))
    assert token.has_resource_owner is has_user


def test_a_sign_in_requirement_on_a_route_open_to_clients_fails_at_decoration(verifier):
    with pytest.raises(ValueError, match="user"):
        require_auth(verifier, user=False, acr_values=[MFA])
    with pytest.raises(ValueError):
        require_auth(verifier, scope='bad"scope')


def test_access_rule_raises_the_refusal_for_other_frameworks(stub, verifier):
    token = verifier.verify_access_token(_machine_token(stub))
    with pytest.raises(UserRequired):
        AccessRule().check(token)
    AccessRule(user=False).check(token)


@pytest.fixture(scope="module")
def machine(server):
    return server.create_client("--name", "RP M2M", "--grant-type", "client_credentials")


@pytest.fixture(scope="module")
def live_api(server, machine):
    verifier = TokenVerifier(server.url, audience=machine["client_id"])
    httpd = make_server("127.0.0.1", 0, _api(verifier), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)


def test_the_providers_client_credentials_token_is_refused_where_a_user_is_required(
    server, machine, live_api
):
    token = client_credentials_token(server, machine)
    me = requests.get(live_api + "/me", headers=_bearer(token), timeout=30)
    assert me.status_code == 403, me.text
    assert _challenge(me)["error"] == "insufficient_scope"
    pay = requests.post(live_api + "/invoices", headers=_bearer(token), timeout=30)
    assert pay.status_code == 403 and "acr_values" not in _challenge(pay)
