"""``idp.rp``'s introspection mode (RFC 7662): a revoked token stops working within the cache
time, against the loopback stand-in and against the live provider (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import requests
from flask import Flask

from idp.rp import (
    InactiveToken,
    Introspection,
    InvalidToken,
    ProviderKeys,
    ProviderUnavailable,
    TokenVerifier,
    require_auth,
)
from tests.rp.provider import FakeClock
from tests.support.oidc import client_credentials_token


def _introspecting(stub, verifier, clock, **options) -> TokenVerifier:
    introspection = Introspection(
        stub.issuer, client_id="rs", client_secret="rs-secret", clock=clock, **options
    )
    return TokenVerifier(
        stub.issuer, audience="client-1", keys=verifier.keys, introspection=introspection
    )


def _jti(verified) -> str:
    return verified.claims["jti"]


def test_revoked_token_is_refused_once_the_stated_cache_time_has_passed(stub, verifier, clock):
    checked = _introspecting(stub, verifier, clock, cache_ttl=5)
    token = stub.access_token(stub.keys[0])
    stub.revoked.add(_jti(checked.verify_access_token(token)))
    clock.advance(4.9)
    assert checked.verify_access_token(token)  # the cached answer, as documented
    clock.advance(0.1)
    with pytest.raises(InactiveToken, match="no longer active"):
        checked.verify_access_token(token)
    assert stub.hits["introspect"] == 2


def test_answers_are_cached_by_digest_for_the_ttl_then_asked_again(stub, verifier, clock):
    checked = _introspecting(stub, verifier, clock, cache_ttl=3)
    token = stub.access_token(stub.keys[0])
    for _ in range(3):
        checked.verify_access_token(token)
    assert stub.hits["introspect"] == 1
    clock.advance(3)
    checked.verify_access_token(token)
    assert stub.hits["introspect"] == 2
    keys = list(checked.introspection._answers._entries)
    assert keys and all(isinstance(k, bytes) and len(k) == 32 for k in keys)  # never the token


def test_inactive_answers_are_cached_too(stub, verifier, clock):
    checked = _introspecting(stub, verifier, clock)
    token = stub.access_token(stub.keys[0])
    stub.revoked.add(stub.introspect(token)["jti"])
    for _ in range(3):
        with pytest.raises(InactiveToken):
            checked.verify_access_token(token)
    assert stub.hits["introspect"] == 1


def test_cache_ttl_zero_asks_every_time(stub, verifier, clock):
    checked = _introspecting(stub, verifier, clock, cache_ttl=0)
    token = stub.access_token(stub.keys[0])
    checked.verify_access_token(token)
    stub.revoked.add(stub.introspect(token)["jti"])
    with pytest.raises(InactiveToken):
        checked.verify_access_token(token)
    assert stub.hits["introspect"] == 2


def test_the_cache_is_bounded(stub, verifier, clock):
    checked = _introspecting(stub, verifier, clock, cache_size=2)
    tokens = [stub.access_token(stub.keys[0]) for _ in range(3)]
    for token in tokens:
        checked.verify_access_token(token)
    assert len(checked.introspection._answers) == 2
    checked.verify_access_token(tokens[0])  # the least recently used was dropped: asked again
    assert stub.hits["introspect"] == 4


def test_a_token_that_fails_locally_is_never_sent_to_the_provider(stub, verifier, clock):
    checked = _introspecting(stub, verifier, clock)
    with pytest.raises(InvalidToken, match="another audience"):
        checked.verify_access_token(stub.access_token(stub.keys[0], aud="client-2"))
    assert stub.hits["introspect"] == 0


def test_wrong_credentials_or_a_failing_endpoint_is_unavailable_not_invalid(stub, verifier, clock):
    wrong = Introspection(stub.issuer, client_id="rs", client_secret="nope", clock=clock)
    checked = TokenVerifier(
        stub.issuer, audience="client-1", keys=verifier.keys, introspection=wrong
    )
    token = stub.access_token(stub.keys[0])
    with pytest.raises(ProviderUnavailable, match="credentials"):
        checked.verify_access_token(token)
    stub.introspect_status = 500
    with pytest.raises(ProviderUnavailable):
        _introspecting(stub, verifier, clock).verify_access_token(token)


def test_require_auth_answers_inactive_with_401_and_unreachable_with_503(stub, verifier, clock):
    checked = _introspecting(stub, verifier, clock)
    app = Flask(__name__)
    app.add_url_rule("/x", view_func=require_auth(checked)(lambda: "ok"))
    client = app.test_client()
    token = stub.access_token(stub.keys[0])
    stub.revoked.add(stub.introspect(token)["jti"])
    response = client.get("/x", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    assert "no longer active" in response.json["error_description"]
    stub.introspect_status = 503
    fresh = stub.access_token(stub.keys[0])
    response = client.get("/x", headers={"Authorization": f"Bearer {fresh}"})
    assert response.status_code == 503


def test_revoked_token_is_refused_through_the_live_providers_introspection(server):
    """The provider lets a client introspect the tokens issued to it, so the machine client is
    both the token's client and the resource server here."""
    machine = server.create_client("--name", "RP introspection", "--grant-type",
                                   "client_credentials")  # fmt: skip
    clock = FakeClock()
    introspection = Introspection(
        server.url,
        client_id=machine["client_id"],
        client_secret=machine["client_secret"],
        cache_ttl=5,
        clock=clock,
    )
    verifier = TokenVerifier(
        server.url,
        audience=machine["client_id"],
        keys=ProviderKeys(server.url),
        introspection=introspection,
    )
    token = client_credentials_token(server, machine)
    assert verifier.verify_access_token(token).subject == machine["client_id"]
    revoked = requests.post(
        server.url + "/revoke",
        data={"token": token},
        auth=(machine["client_id"], machine["client_secret"]),
        timeout=30,
    )
    assert revoked.status_code == 200, revoked.text
    assert verifier.verify_access_token(token)  # still inside the cache time
    clock.advance(5)
    with pytest.raises(InactiveToken):
        verifier.verify_access_token(token)
    assert introspection.requests == 2


def test_an_api_introspects_with_its_own_credentials_the_tokens_for_the_resource_it_serves(
    server,
):
    """The real shape: an app gets a token for an API (RFC 8707 ``resource``); the API checks
    it through introspection with its own client, registered as serving that resource; a
    token for another resource is inactive to it (RFC 7662 4)."""
    api_uri, other_uri = "https://orders.example/api", "https://billing.example/api"
    api = server.create_client("--name", "Orders API", "--grant-type", "client_credentials",
                               "--serves", api_uri)  # fmt: skip
    app = server.create_client("--name", "Orders app", "--grant-type", "client_credentials",
                               "--resource", api_uri, "--resource", other_uri)  # fmt: skip
    clock = FakeClock()
    verifier = TokenVerifier(
        server.url,
        resource=api_uri,
        keys=ProviderKeys(server.url),
        introspection=Introspection(
            server.url,
            client_id=api["client_id"],
            client_secret=api["client_secret"],
            cache_ttl=5,
            clock=clock,
        ),  # fmt: skip
    )

    def token_for(resource: str) -> str:
        response = requests.post(
            server.url + "/token",
            data={"grant_type": "client_credentials", "resource": resource},
            auth=(app["client_id"], app["client_secret"]),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    token = token_for(api_uri)
    assert verifier.verify_access_token(token).claims["aud"] == api_uri
    introspect = {"auth": (api["client_id"], api["client_secret"]), "timeout": 30}
    other = requests.post(server.url + "/introspect", data={"token": token_for(other_uri)},
                          **introspect)  # fmt: skip
    assert other.json() == {"active": False}
    requests.post(server.url + "/revoke", data={"token": token},
                  auth=(app["client_id"], app["client_secret"]), timeout=30)  # fmt: skip
    clock.advance(5)
    with pytest.raises(InactiveToken):
        verifier.verify_access_token(token)
