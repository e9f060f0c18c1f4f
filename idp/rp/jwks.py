"""The provider's signing keys: found through discovery, cached in-process, refreshed with care.

OIDC Core 10.1.1: a provider rotates keys by publishing a new one in its JWKS and signing with
it; a relying party that meets an unknown ``kid`` fetches the JWKS again. An attacker can send
tokens with random ``kid`` values, so a refresh may start at most once per
``min_refresh_interval`` (30 s, like jose's ``cooldownDuration``): the first unknown kid after
that interval refreshes at once, every other one inside it is refused without a request. The
cache is also renewed, lazily, once it is older than ``max_age``, so keys the provider withdrew
stop verifying. Only RS256 and ES256 keys are kept; ``none`` and HMAC can never verify.

No lock is held across an HTTP call: the lock guards the cache alone, so a slow or hanging key
endpoint delays only the requests that need the answer -- the one that started the fetch, and
those whose ``kid`` is not cached (they wait for that fetch rather than start another). A
request whose key is cached, even one due for renewal, gets it at once while the fetch runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests

from idp.rp.discovery import discovery_url, endpoint, get_json
from idp.rp.errors import InvalidToken, ProviderUnavailable

#: The only signature algorithms accepted (RFC 8725 section 3.1: an explicit allow-list).
ALGORITHMS = frozenset({"RS256", "ES256"})

__all__ = ["ALGORITHMS", "ProviderKeys", "discovery_url", "parse_jwks"]


class ProviderKeys:
    """The JWKS of one issuer, keyed by ``kid``. Thread-safe; one fetch at a time."""

    def __init__(
        self,
        issuer: str,
        *,
        jwks_uri: str | None = None,
        min_refresh_interval: float = 30.0,
        max_age: float = 300.0,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.jwks_uri = jwks_uri
        self.min_refresh_interval = min_refresh_interval
        self.max_age = max_age
        self.timeout = timeout
        self.session = session or requests.Session()
        self.clock = clock
        self.fetches = 0  # JWKS requests made, for monitoring and tests
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # time of the last attempt, failed or not
        self._failed = False  # whether that attempt failed (or is still running)
        self._running: threading.Event | None = None  # set when the fetch in flight ends
        self._lock = threading.Lock()  # guards the fields above; never held across HTTP

    def key(self, kid: str) -> jwt.PyJWK:
        """The public key named ``kid``; raises ``InvalidToken`` if the provider has none."""
        with self._lock:
            now = self.clock()
            known = self._keys.get(kid)
            if known is not None and not self._stale(now):
                return known
            running = self._running
            mine = running is None and self._may_fetch(now)
            if mine:
                running = self._begin(now)
        if mine:
            self._fetch(running)
        elif running is not None:
            if known is not None:
                return known  # someone else is renewing the cache; this key serves meanwhile
            running.wait(2 * self.timeout + 1)  # discovery and JWKS, each within the timeout
        return self._lookup(kid, known)

    def refresh(self) -> None:
        """Fetch the JWKS now, whatever the interval (for an app that knows keys changed)."""
        with self._lock:
            running = self._begin(self.clock())
        if not self._fetch(running):
            raise ProviderUnavailable("the provider's keys could not be fetched")

    @property
    def kids(self) -> frozenset[str]:
        """The key ids currently cached."""
        with self._lock:
            return frozenset(self._keys)

    def _stale(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self.max_age

    def _may_fetch(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self.min_refresh_interval

    def _begin(self, now: float) -> threading.Event:
        """Claim the next fetch (the lock is held). Failures count too: a provider that is
        down is not hammered, and until this fetch succeeds the keys count as unfetched."""
        self._fetched_at = now
        self._failed = True
        self._running = threading.Event()
        return self._running

    def _fetch(self, running: threading.Event) -> bool:
        """Download and install the JWKS, outside the lock; True if it succeeded."""
        keys = None
        try:
            keys = self._download()
        except ProviderUnavailable:
            pass
        finally:
            with self._lock:
                if keys is not None:
                    self._keys, self._failed = keys, False
                if self._running is running:
                    self._running = None
            running.set()
        return keys is not None

    def _download(self) -> dict[str, jwt.PyJWK]:
        uri = self.jwks_uri or endpoint(self.session, self.issuer, "jwks_uri", self.timeout)
        self.jwks_uri = uri
        self.fetches += 1
        return parse_jwks(get_json(self.session, uri, self.timeout))

    def _lookup(self, kid: str, known: jwt.PyJWK | None) -> jwt.PyJWK:
        """After a fetch (or none allowed): the key, else why there is none."""
        with self._lock:
            found = self._keys.get(kid)
            failed = self._failed
        if found is not None:
            return found
        if failed:
            if known is not None:
                return known  # stale but known: better than refusing every token
            raise ProviderUnavailable("the provider's keys could not be fetched")
        raise InvalidToken("the token is signed with an unknown key")


def parse_jwks(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS by ``kid``; keys of other algorithms or uses are skipped.

    RFC 7517 section 4.2: a key whose ``use`` is not ``sig`` is not for signatures. A key without
    ``kid`` cannot be selected safely and is skipped too.
    """
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ProviderUnavailable("the JWKS has no keys list")
    found: dict[str, jwt.PyJWK] = {}
    for data in keys:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        kid, alg = data.get("kid"), data.get("alg")
        if not isinstance(kid, str) or not kid or (alg is not None and alg not in ALGORITHMS):
            continue
        try:
            key = jwt.PyJWK(data)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if key.algorithm_name in ALGORITHMS:
            found[kid] = key
    return found
