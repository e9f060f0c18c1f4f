"""Fixtures of the relying-party tests: a loopback stand-in provider with one RS256 key."""

from __future__ import annotations

import pytest

from idp.rp import ProviderKeys, TokenVerifier
from tests.rp.provider import FakeClock, StubProvider, new_key


@pytest.fixture()
def stub():
    provider = StubProvider(keys=[new_key("RS256")]).start()
    yield provider
    provider.stop()


@pytest.fixture()
def clock():
    return FakeClock()


@pytest.fixture()
def verifier(stub, clock):
    keys = ProviderKeys(stub.issuer, clock=clock, timeout=5)
    return TokenVerifier(stub.issuer, audience="client-1", keys=keys)
