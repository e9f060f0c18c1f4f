"""Token introspection (RFC 7662) for a resource server: is this access token still active?

A JWT access token verifies on its own until it expires, whatever happened since: revoked at
the provider (RFC 7009), its refresh-token family revoked, its user's password changed. A
resource server that must stop honouring such tokens before they expire asks the provider:
``POST`` to its ``introspection_endpoint`` (from discovery), ``token`` and
``token_type_hint=access_token`` in the form, authenticated with the resource server's own
client credentials (``client_secret_basic``, each part form-encoded, RFC 6749 2.3.1).

Answers are cached so every request does not cost a round trip: keyed by the SHA-256 digest of
the token (the token itself is never kept), each answer -- active or not -- is reused for
``cache_ttl`` seconds (default 5), at most ``cache_size`` of them (least recently used dropped
first). So: a token the provider stops holding active is refused at most ``cache_ttl``
seconds later (plus the time one introspection request takes). With ``cache_ttl=0`` every
request asks. When the provider cannot be reached, or answers anything but a JSON object with
a boolean ``active``, the token is not accepted: ``ProviderUnavailable`` (503), never a guess.
No lock is held across the HTTP call; two requests that miss the cache at once both ask.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from idp.rp.cache import TTLCache
from idp.rp.discovery import endpoint
from idp.rp.errors import InactiveToken, ProviderUnavailable

DEFAULT_CACHE_TTL = 5.0
DEFAULT_CACHE_SIZE = 10_000


class Introspection:
    """Asks one issuer's introspection endpoint about access tokens, as one client."""

    def __init__(
        self,
        issuer: str,
        *,
        client_id: str,
        client_secret: str,
        endpoint: str | None = None,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        cache_size: int = DEFAULT_CACHE_SIZE,
        timeout: float = 5.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.endpoint = endpoint
        self.timeout = timeout
        self.session = session or requests.Session()
        self.requests = 0  # introspection requests made, for monitoring and tests
        self._auth = (quote(client_id, safe=""), quote(client_secret, safe=""))
        self._answers: TTLCache[bool] = TTLCache(cache_ttl, cache_size, clock)

    @property
    def cache_ttl(self) -> float:
        return self._answers.ttl

    def check(self, token: str) -> None:
        """Raise ``InactiveToken`` unless the provider holds ``token`` active."""
        if not self.active(token):
            raise InactiveToken("the token is no longer active")

    def active(self, token: str) -> bool:
        """The provider's answer for ``token``, from the cache when it is young enough."""
        key = hashlib.sha256(token.encode()).digest()
        cached = self._answers.get(key)
        if cached is not None:
            return cached
        answer = self._ask(token)
        self._answers.put(key, answer)
        return answer

    def _ask(self, token: str) -> bool:
        url = self.endpoint or endpoint(
            self.session, self.issuer, "introspection_endpoint", self.timeout
        )
        self.endpoint = url
        self.requests += 1
        try:
            response = self.session.post(
                url,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self._auth,
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable("cannot reach the introspection endpoint") from exc
        if response.status_code == 401:
            raise ProviderUnavailable("the introspection endpoint refused our client credentials")
        return _active(response)


def _active(response: requests.Response) -> bool:
    """RFC 7662 2.2: ``active`` is REQUIRED and boolean; anything else is no answer."""
    try:
        response.raise_for_status()
        body: Any = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable("the introspection endpoint did not answer") from exc
    active = body.get("active") if isinstance(body, dict) else None
    if not isinstance(active, bool):
        raise ProviderUnavailable("the introspection answer has no boolean active")
    return active
