"""A slow key endpoint delays only the requests that need its answer.

The stand-in provider's JWKS sleeps (``jwks_delay``); while one request waits for it, requests
whose key is cached are answered at once, and requests for an unknown key wait for that fetch
instead of starting their own.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.rp.provider import new_key

DELAY = 1.5
QUICK = 0.5  # far more than a cached verification takes, far less than DELAY


def _timed(call) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


@pytest.fixture()
def slow(stub, verifier, clock):
    """The key cache holds keys[0]; the next fetch will take DELAY seconds."""
    verifier.verify_access_token(stub.access_token(stub.keys[0]))
    stub.jwks_delay = DELAY
    stub.jwks_started.clear()
    clock.advance(31)  # past the refresh interval: an unknown kid may fetch again
    return stub


def test_slow_key_endpoint_does_not_delay_requests_whose_key_is_cached(slow, verifier):
    """Meanwhile the requests signed with the new key wait for the one fetch in flight rather
    than start their own (or be refused as unknown inside the refresh interval)."""
    rotated = new_key("ES256")
    slow.keys.append(rotated)
    with ThreadPoolExecutor(3) as pool:
        fetching = [
            pool.submit(verifier.verify_access_token, slow.access_token(rotated)) for _ in range(3)
        ]
        assert slow.jwks_started.wait(5)
        cached = slow.access_token(slow.keys[0])
        assert _timed(lambda: verifier.verify_access_token(cached)) < QUICK
        assert not any(f.done() for f in fetching)
        assert [f.result(timeout=10).subject for f in fetching] == ["user-1"] * 3
    assert slow.hits["jwks"] == 2  # the first fetch, and one for the rotated key


def test_renewing_an_old_cache_does_not_delay_other_requests_with_cached_keys(
    slow, verifier, clock
):
    clock.advance(300)  # the cache is past max_age: the next request renews it
    token = slow.access_token(slow.keys[0])
    with ThreadPoolExecutor(1) as pool:
        renewing = pool.submit(verifier.verify_access_token, token)
        assert slow.jwks_started.wait(5)
        assert _timed(lambda: verifier.verify_access_token(token)) < QUICK
        assert renewing.result(timeout=10).subject == "user-1"
    assert slow.hits["jwks"] == 2
