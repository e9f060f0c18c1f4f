"""The provider's signing keys: found through discovery, cached in-process, refreshed with care.

OIDC Core 10.1.1: a provider rotates keys by publishing a new one in its JWKS and signing with
it; a relying party that meets an unknown ``kid`` fetches the JWKS again. An attacker can send
tokens with random ``kid`` values, so a refresh may start at most once per
``min_refresh_interval`` (30 s, like jose's ``cooldownDuration``): the first unknown kid after
that interval refreshes at once, every other one inside it is refused without a request. The
cache is also renewed, lazily, once it is older than ``max_age``, so keys the provider withdrew
stop verifying. Only RS256 and ES256 keys are kept; ``none`` and HMAC can never verify.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests

from idp.rp.errors import InvalidToken, ProviderUnavailable

#: The only signature algorithms accepted (RFC 8725 section 3.1: an explicit allow-list).
ALGORITHMS = frozenset({"RS256", "ES256"})


def discovery_url(issuer: str) -> str:
    """OIDC Discovery 1.0 section 4: drop a trailing slash, append the well-known path."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


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
        self._failed = False  # whether that attempt failed
        self._lock = threading.Lock()

    def key(self, kid: str) -> jwt.PyJWK:
        """The public key named ``kid``; raises ``InvalidToken`` if the provider has none."""
        with self._lock:
            now = self.clock()
            known = self._keys.get(kid)
            if known is not None and not self._stale(now):
                return known
            if self._may_fetch(now):
                try:
                    self._fetch(now)
                except ProviderUnavailable:
                    if known is None:
                        raise
                    return known  # stale but known: better than refusing every token
            found = self._keys.get(kid)
            if found is not None:
                return found
            if self._failed:
                raise ProviderUnavailable("the provider's keys could not be fetched")
            raise InvalidToken("the token is signed with an unknown key")

    def refresh(self) -> None:
        """Fetch the JWKS now, whatever the interval (for an app that knows keys changed)."""
        with self._lock:
            self._fetch(self.clock())

    @property
    def kids(self) -> frozenset[str]:
        """The key ids currently cached."""
        with self._lock:
            return frozenset(self._keys)

    def _stale(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self.max_age

    def _may_fetch(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self.min_refresh_interval

    def _fetch(self, now: float) -> None:
        self._fetched_at = now  # failures count too: a provider that is down is not hammered
        self._failed = True
        uri = self.jwks_uri or self._discover()
        self.fetches += 1
        self._keys = parse_jwks(self._get_json(uri))
        self._failed = False

    def _discover(self) -> str:
        """``jwks_uri`` from discovery, after checking the document is this issuer's (4.3)."""
        metadata = self._get_json(discovery_url(self.issuer))
        if metadata.get("issuer") != self.issuer:
            raise ProviderUnavailable("discovery names a different issuer")
        uri = metadata.get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise ProviderUnavailable("discovery has no jwks_uri")
        self.jwks_uri = uri
        return uri

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.session.get(url, timeout=self.timeout)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"cannot fetch {url}") from exc
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"{url} is not a JSON object")
        return data


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
