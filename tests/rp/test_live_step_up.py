"""RFC 9470 end to end against the live provider, on SQLite and on PostgreSQL.

A resource server (Flask, ``require_auth`` asking for the MFA level, served by Werkzeug on a
loopback port) refuses a password-only access token; a real client reads the challenge, sends
the user back to the provider with those parameters, the hosted pages ask for the TOTP code,
and the new access token is accepted.
"""

from __future__ import annotations

import threading
import time

import pyotp
import pytest
import requests
from flask import Flask
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.serving import make_server

from idp.rp import (
    MFA,
    StepUpChallenge,
    TokenVerifier,
    authorization_params,
    current_token,
    require_auth,
)
from tests.support.factors import enroll_totp
from tests.support.oidc import HostedPages, RelyingParty, submit_code


@pytest.fixture(scope="module")
def resource_server(server, rp):
    verifier = TokenVerifier(server.url, audience=rp["client_id"])
    app = Flask("resource_server")

    @app.get("/billing")
    @require_auth(verifier, acr_values=[MFA])
    def billing():
        token = current_token()
        return {"sub": token.subject, "acr": token.acr, "amr": list(token.amr)}

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)


def _call(resource_server: str, access_token: str) -> requests.Response:
    return requests.get(
        resource_server + "/billing",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=30,
    )


def test_password_token_is_refused_then_stepped_up_with_totp(server, rp, resource_server):
    person = server.create_user()
    relying, browser = RelyingParty(server, rp), HostedPages(server.url)
    first = relying.sign_in(browser, person)
    assert "code=" in first.location, first.response.text[:300]
    password_only = relying.redeem(first).json()

    refused = _call(resource_server, password_only["access_token"])
    assert refused.status_code == 401
    header = refused.headers["WWW-Authenticate"]
    standard = WWWAuthenticate.from_header(header)
    assert standard.type == "bearer"
    assert standard.parameters["error"] == "insufficient_user_authentication"
    assert standard.parameters["acr_values"] == MFA
    challenge = StepUpChallenge.from_header(header)
    assert challenge.needs_step_up and challenge.acr_values == (MFA,)
    assert refused.json()["acr_values"] == MFA

    person = enroll_totp(server, person)
    params = authorization_params(challenge)
    assert params == {"acr_values": MFA}
    second = relying.sign_in(browser, person, **params)
    page = second.response
    assert page.status_code == 200 and 'name="code"' in page.text, page.text[:300]
    code = pyotp.TOTP(person["secret"]).at(time.time() + 30)  # enrollment spent the current step
    second.response = submit_code(browser, page, code, relying.redirect_uri)
    assert "code=" in second.location, second.response.text[:300]
    stepped_up = relying.redeem(second).json()

    accepted = _call(resource_server, stepped_up["access_token"])
    assert accepted.status_code == 200, accepted.headers.get("WWW-Authenticate")
    assert accepted.json()["sub"] == person["sub"]
    assert accepted.json()["acr"] == MFA
    assert {"mfa", "otp", "pwd"} <= set(accepted.json()["amr"])

    verifier = TokenVerifier(server.url, audience=rp["client_id"])
    id_token = verifier.verify_id_token(stepped_up["id_token"], nonce=second.nonce)
    assert id_token.acr == MFA and id_token.subject == person["sub"]
