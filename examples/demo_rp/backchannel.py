"""The demo app's side of OpenID Connect Back-Channel Logout 1.0: check a logout token and
remember which provider sessions have ended.

The provider POSTs a logout token to ``/backchannel-logout`` when a session the demo got
tokens in ends. That request comes from the provider, not the user's browser, so it carries no
cookie of the demo: the demo's sessions live in signed cookies, which nothing on the server can
reach or delete. Instead the demo keeps the ``sid`` values the provider says have ended (and,
for a token without ``sid``, the subject and the time), and checks each request's session
against them: a browser whose ID token names an ended ``sid`` is signed out at its next request.
An app with server-side sessions would delete them here instead. The set is in memory: one
process, as the demo runs; entries are dropped after ``keep`` seconds (the longest a demo
session can be signed in without coming back through the provider).

``LogoutTokenVerifier.verify`` follows section 2.6: the signature with a key the provider's
JWKS publishes (RS256 or ES256 only), ``iss``, ``aud``, ``iat`` and ``exp``, ``typ``
``logout+jwt``, ``sub`` and/or ``sid``, the back-channel logout event, no ``nonce``, and a
``jti`` not seen before (a replay is refused).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from idp.rp import ALGORITHMS, ProviderKeys, RPError

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_TYPES = frozenset({"logout+jwt", "application/logout+jwt"})


class InvalidLogoutToken(Exception):
    """The logout token failed a check of section 2.6; the message is safe to return."""


@dataclass(frozen=True)
class Logout:
    """What a valid logout token says: whose session (``sid``, else every one of ``sub``)."""

    sub: str | None
    sid: str | None
    iat: int


class LogoutTokenVerifier:
    """Checks logout tokens of one issuer for one client (section 2.6)."""

    def __init__(
        self, issuer: str, client_id: str, keys: ProviderKeys, *, leeway: int = 30
    ) -> None:
        self.issuer, self.client_id, self.keys, self.leeway = issuer, client_id, keys, leeway
        self._seen: dict[str, float] = {}  # jti -> its exp, while it could be replayed
        self._lock = threading.Lock()

    def verify(self, token: str) -> Logout:
        claims = self._decode(token)
        if not isinstance(claims.get("sub"), str) and not isinstance(claims.get("sid"), str):
            raise InvalidLogoutToken("the logout token names neither sub nor sid")
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
            raise InvalidLogoutToken("the logout token lacks the back-channel logout event")
        if "nonce" in claims:
            raise InvalidLogoutToken("a logout token must not carry a nonce")
        self._first_use(claims["jti"], claims["exp"])
        return Logout(claims.get("sub"), claims.get("sid"), int(claims["iat"]))

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidLogoutToken("the logout token is not a signed JWT") from None
        alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
        if alg not in ALGORITHMS or not isinstance(kid, str):
            raise InvalidLogoutToken("the logout token's algorithm or key is not accepted")
        if not isinstance(typ, str) or typ.lower() not in TOKEN_TYPES:
            raise InvalidLogoutToken("the token is not a logout token (typ)")
        try:
            key = self.keys.key(kid)
            if key.algorithm_name != alg:
                raise InvalidLogoutToken("the logout token's algorithm does not match its key")
            return jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.client_id,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]},
            )
        except RPError as exc:
            raise InvalidLogoutToken(f"the logout token's key: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidLogoutToken(
                f"the logout token is not valid ({type(exc).__name__})"
            ) from None

    def _first_use(self, jti: object, exp: float) -> None:
        """Section 2.6 (optional): refuse a logout token already received."""
        if not isinstance(jti, str):
            raise InvalidLogoutToken("the logout token's jti is not a string")
        with self._lock:
            moment = time.time()
            self._seen = {k: v for k, v in self._seen.items() if v + self.leeway > moment}
            if jti in self._seen:
                raise InvalidLogoutToken("the logout token was already received")
            self._seen[jti] = exp


class EndedSessions:
    """The provider sessions that have ended, as logout tokens said; thread-safe, in memory."""

    def __init__(self, keep: float = 12 * 3600, clock: Callable[[], float] = time.time) -> None:
        self.keep, self.clock = keep, clock
        self._sids: dict[str, float] = {}  # sid -> when we heard
        self._subs: dict[str, int] = {}  # sub -> the token's iat: sessions begun before ended
        self._lock = threading.Lock()

    def add(self, logout: Logout) -> None:
        with self._lock:
            self._prune()
            if logout.sid is not None:
                self._sids[logout.sid] = self.clock()
            elif logout.sub is not None:
                self._subs[logout.sub] = max(logout.iat, self._subs.get(logout.sub, 0))

    def ended(self, claims: dict[str, Any]) -> bool:
        """Whether the session these ID token claims belong to has ended at the provider."""
        with self._lock:
            if claims.get("sid") in self._sids:
                return True
            since = self._subs.get(claims.get("sub"))  # type: ignore[arg-type]
            return since is not None and int(claims.get("iat", 0)) <= since

    def _prune(self) -> None:
        cutoff = self.clock() - self.keep
        self._sids = {sid: at for sid, at in self._sids.items() if at > cutoff}
        self._subs = {sub: iat for sub, iat in self._subs.items() if iat > cutoff}
