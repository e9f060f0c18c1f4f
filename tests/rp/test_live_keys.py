"""``idp keys rotate`` on a running provider: the verifier picks up the new key from the JWKS.

Its own provider instance, as in tests/cli/test_keys.py, so rotating disturbs no other test.
Tokens come from a machine client (client credentials); they are RFC 9068 access tokens too.
"""

from __future__ import annotations

import json
import time

import jwt
import pytest

from idp.rp import InvalidToken, ProviderKeys, TokenVerifier
from tests.rp.provider import FakeClock
from tests.support.live import make_server
from tests.support.oidc import client_credentials_token


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = make_server(tmp_path_factory.mktemp("idp-rp-keys"), None)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _issue_with_kid(server, machine: dict, kid: str) -> str:
    """Workers notice a rotation within a second (``idp.keys.signing.RELOAD_INTERVAL``): wait."""
    deadline = time.monotonic() + 5
    while True:
        token = client_credentials_token(server, machine)
        if jwt.get_unverified_header(token)["kid"] == kid:
            return token
        assert time.monotonic() < deadline, "the provider did not start signing with the new key"
        time.sleep(0.1)


def test_rotation_is_picked_up_on_the_first_token_after_the_interval(live):
    machine = live.create_client("--name", "M2M", "--grant-type", "client_credentials")
    clock = FakeClock()
    keys = ProviderKeys(live.url, clock=clock)
    verifier = TokenVerifier(live.url, audience=machine["client_id"], keys=keys)
    before = client_credentials_token(live, machine)
    assert verifier.verify_access_token(before).subject == machine["client_id"]
    assert keys.fetches == 1

    rotated = json.loads(live.cli("keys", "rotate", "--alg", "ES256").stdout)
    after = _issue_with_kid(live, machine, rotated["kid"])
    with pytest.raises(InvalidToken, match="unknown key"):  # inside the interval: no request
        verifier.verify_access_token(after)
    assert keys.fetches == 1

    clock.advance(30)
    verified = verifier.verify_access_token(after)
    assert verified.subject == machine["client_id"] and keys.fetches == 2
    assert jwt.get_unverified_header(after)["alg"] == "ES256"
    assert verifier.verify_access_token(before).subject == machine["client_id"]  # still published
    assert keys.fetches == 2
