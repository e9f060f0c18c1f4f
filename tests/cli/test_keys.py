"""``idp keys rotate`` against a running provider: the JWKS, token headers and discovery follow.

The provider gets its own instance (not the shared ``server``), so rotating keys here disturbs no
other test. Tokens come from a machine client (client credentials, HTTP Basic) and, for an ID
token, from the authorization-code flow with PKCE.
"""

from __future__ import annotations

import json
import time

import jwt
import pytest
import requests

from tests.cli.helpers import audit_rows, run_parallel
from tests.support.live import make_server
from tests.support.oidc import HostedPages, RelyingParty, client_credentials_token

RP_REDIRECT = "http://localhost:9/cb"
PICKUP_SECONDS = 3.0


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = make_server(tmp_path_factory.mktemp("idp-keys"), None)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def registered(live) -> dict:
    """A machine client, a first-party relying party and a user, created at once."""
    password = "correct horse battery staple"
    machine = ["clients", "create", "--name", "M2M", "--grant-type", "client_credentials"]
    rp = ["clients", "create", "--name", "RP", "--redirect-uri", RP_REDIRECT, "--first-party"]
    user = ["users", "create", "key-user@example.com", "--password-stdin"]
    results = run_parallel([(machine, live.env), (rp, live.env), (user, live.env, password + "\n")])
    assert all(result.returncode == 0 for result in results), [r.stderr for r in results]
    machine, rp, user = (json.loads(result.stdout) for result in results)
    return {"machine": machine, "rp": rp, "user": {**user, "password": password}}


@pytest.fixture(scope="module")
def machine(registered):
    return registered["machine"]


@pytest.fixture(scope="module")
def rp(registered):
    return registered["rp"]


@pytest.fixture(scope="module")
def user(registered):
    return registered["user"]


def rotate(server, *args: str) -> dict:
    """``idp keys rotate``, then wait until the provider publishes the new key: workers check
    ``keys.json`` for a rotation at most once a second (idp/keys/signing.py RELOAD_INTERVAL)."""
    rotated = json.loads(server.cli("keys", "rotate", *args).stdout)
    deadline = time.monotonic() + PICKUP_SECONDS
    while rotated["kid"] not in kids(server):
        assert time.monotonic() < deadline, f"provider did not pick up {rotated['kid']}"
        time.sleep(0.05)
    return rotated


def jwks(server) -> dict:
    response = requests.get(server.url + "/jwks.json", timeout=30)
    assert response.status_code == 200
    return response.json()


def discovery(server) -> dict:
    return requests.get(server.url + "/.well-known/openid-configuration", timeout=30).json()


def kids(server) -> set[str]:
    return {key["kid"] for key in jwks(server)["keys"]}


def verify_with_jwks(server, token: str, audience: str) -> dict:
    """Verify as a resource server would: the key named by ``kid`` in the published JWKS, and
    only the algorithm that key is published for."""
    header = jwt.get_unverified_header(token)
    published = {key["kid"]: key for key in jwks(server)["keys"]}
    assert header["kid"] in published, "the token's kid is not in the JWKS"
    key = jwt.PyJWK(published[header["kid"]])
    assert header["alg"] == published[header["kid"]]["alg"]
    return jwt.decode(
        token, key.key, algorithms=[key.algorithm_name], audience=audience, issuer=server.url
    )


def test_rotate_prints_the_new_kid_and_jwks_lists_old_and_new(live, machine):
    old_kid = jwt.get_unverified_header(client_credentials_token(live, machine))["kid"]
    rotated = rotate(live)
    assert rotated["kid"] != old_kid and rotated["alg"] == "RS256"
    published = kids(live)
    assert {old_kid, rotated["kid"]} <= published
    assert all(key["use"] == "sig" and "d" not in key for key in jwks(live)["keys"])


def test_token_issued_after_rotation_carries_the_new_kid_and_verifies(live, machine):
    new_kid = rotate(live)["kid"]
    token = client_credentials_token(live, machine)
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    claims = verify_with_jwks(live, token, machine["client_id"])
    assert claims["client_id"] == machine["client_id"] and claims["sub"] == machine["client_id"]


def test_tokens_signed_before_rotation_still_verify_against_the_jwks(live, machine, rp, user):
    relying = RelyingParty(live, rp)
    result = relying.sign_in(HostedPages(live.url), user)
    assert result.location.startswith(relying.redirect_uri), result.response.text[:300]
    tokens = relying.redeem(result).json()
    machine_token = client_credentials_token(live, machine)
    old_kid = jwt.get_unverified_header(tokens["id_token"])["kid"]

    new_kid = rotate(live)["kid"]
    assert jwt.get_unverified_header(client_credentials_token(live, machine))["kid"] == new_kid

    claims = relying.verify_id_token(tokens["id_token"], result.nonce, tokens["access_token"])
    assert claims["sub"] == user["sub"]
    assert jwt.get_unverified_header(tokens["access_token"])["kid"] == old_kid
    assert verify_with_jwks(live, tokens["access_token"], rp["client_id"])["sub"] == user["sub"]
    assert verify_with_jwks(live, machine_token, machine["client_id"])


def test_access_token_signed_before_rotation_is_still_accepted_by_the_provider(live, machine):
    token = client_credentials_token(live, machine)
    rotate(live)
    introspected = requests.post(
        live.url + "/introspect",
        data={"token": token},
        auth=(machine["client_id"], machine["client_secret"]),
        timeout=30,
    )
    assert introspected.status_code == 200, introspected.text
    assert introspected.json()["active"] is True


def test_rotate_to_es256_signs_the_next_token_with_es256_and_discovery_lists_it(live, machine):
    rotated = rotate(live, "--alg", "ES256")
    assert rotated["alg"] == "ES256"
    token = client_credentials_token(live, machine)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": rotated["kid"], "typ": "at+jwt"}
    assert verify_with_jwks(live, token, machine["client_id"])
    published = {key["kid"]: key for key in jwks(live)["keys"]}
    assert published[rotated["kid"]]["kty"] == "EC" and published[rotated["kid"]]["crv"] == "P-256"
    algs = discovery(live)["id_token_signing_alg_values_supported"]
    assert "ES256" in algs and "RS256" in algs, "RS256 tokens are still valid, so still listed"


def test_es256_id_token_verifies_with_its_at_hash(live, machine, rp, user):
    if jwt.get_unverified_header(client_credentials_token(live, machine))["alg"] != "ES256":
        rotate(live, "--alg", "ES256")
    relying = RelyingParty(live, rp)
    result = relying.sign_in(HostedPages(live.url), user)
    tokens = relying.redeem(result).json()
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "ES256"
    relying.verify_id_token(tokens["id_token"], result.nonce, tokens["access_token"])


def test_rotation_is_recorded_in_the_audit_log(live):
    rotated = rotate(live)
    rows = [row for row in audit_rows(live) if row["event"] == "keys_rotated"]
    assert any(rotated["kid"] in str(row["detail"]) for row in rows)
