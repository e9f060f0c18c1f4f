"""Verify an OIDC ID token or an RFC 9068 JWT access token against the provider's JWKS.

Modelled on py_webauthn's verifiers: keyword-only expectations, one small dataclass back, one
exception family (``InvalidToken``). What is checked, in order:

* the header: ``alg`` RS256 or ES256 only (RFC 8725 3.1; never ``none`` or HMAC, so a public key
  can never be used as an HMAC secret), a ``kid``, and ``typ`` -- ``at+jwt`` (or
  ``application/at+jwt``) for access tokens (RFC 9068 section 4), and anything but that for ID
  tokens, so one kind of token cannot be passed off as the other (RFC 8725 3.11);
* the signature, with the key the JWKS publishes under that ``kid`` for that algorithm;
* ``iss`` exactly the issuer, ``aud`` containing the expected audience, ``exp`` and ``iat`` with
  a small leeway (OIDC Core 3.1.3.7, RFC 9068 section 4);
* ID tokens: ``azp`` when there are several audiences, and ``nonce`` when one was sent;
* access tokens, with ``introspection`` configured: that the provider still holds the token
  active (RFC 7662), after every local check passed.

An API's audience: a client that asks for a token with ``resource=https://api.example/``
(RFC 8707) gets one whose ``aud`` is that URI, so the API verifies with
``TokenVerifier(issuer, resource="https://api.example/")`` and refuses a token minted for
another API, or for a client that named no resource (its ``aud`` is the client id). Without
``resource``, access tokens are checked against ``audience`` (the client id), as before.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import jwt

from idp.rp.claims import Claims
from idp.rp.errors import InvalidToken
from idp.rp.introspection import Introspection
from idp.rp.jwks import ALGORITHMS, ProviderKeys

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
ID_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat")
ACCESS_TOKEN_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "client_id", "jti")  # RFC 9068 2.2

TokenKind = Literal["id_token", "access_token"]


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature and claims checked out, with its authentication facts."""

    kind: TokenKind
    claims: Claims
    acr: str | None
    amr: tuple[str, ...]
    auth_time: int | None

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])

    @property
    def scopes(self) -> tuple[str, ...]:
        """The ``scope`` claim's values (RFC 9068 2.2.3, space-separated); none for ID tokens."""
        return tuple(self.claims.get("scope", "").split())

    @property
    def has_resource_owner(self) -> bool:
        """Whether a user stands behind the token: False for a client's own token.

        An ID token is always about a user (OIDC Core 2). An access token is the client's own --
        client credentials (RFC 6749 4.4), no user -- when its ``sub`` is its ``client_id``
        (RFC 9068 2.2: with no resource owner, ``sub`` identifies the client, and this provider
        sets it so), or when it has no ``auth_time``: this provider puts the sign-in's time in
        every token it issues for a user, and a token that cannot say when a user signed in
        cannot stand for one. Either sign is enough (it fails closed). ``acr`` is no sign: a
        user's token may carry none.
        """
        if self.kind == "id_token":
            return True
        return self.claims.get("sub") != self.claims.get("client_id") and self.auth_time is not None


class TokenVerifier:
    """Verifies the tokens of one issuer: ID tokens for one client, access tokens for one API.

    ``audience`` is the client id (the ``aud`` of ID tokens, and of access tokens a client got
    without naming a resource). ``resource`` is the API's own identifier, one absolute URI or
    several (RFC 8707 2): when given, an access token must name one of them in ``aud``.
    ``keys`` defaults to a ``ProviderKeys`` for the issuer; share one between verifiers of the
    same issuer so the JWKS is cached once. ``introspection`` adds the provider's word that an
    access token is still active (see ``idp.rp.introspection`` for what that guarantees).
    """

    def __init__(
        self,
        issuer: str,
        *,
        audience: str | None = None,
        resource: str | Iterable[str] | None = None,
        keys: ProviderKeys | None = None,
        leeway: int = 30,
        introspection: Introspection | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.resources = _resources(resource)
        if audience is None and not self.resources:
            raise ValueError("give the client id (audience=) or the API's resource (resource=)")
        self.keys = keys or ProviderKeys(issuer)
        self.leeway = leeway
        self.introspection = introspection

    def verify_id_token(
        self, token: str, *, nonce: str | None = None, audience: str | None = None
    ) -> VerifiedToken:
        """Verify an ID token issued to ``audience`` (the client id); check ``nonce`` if given."""
        expected = audience or self.audience
        if expected is None:
            raise ValueError("an ID token is checked against the client id: pass audience=")
        claims = self._decode(token, "id_token", expected, ID_TOKEN_CLAIMS)
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != expected:
            raise InvalidToken("the token has several audiences and another authorized party")
        if "azp" in claims and claims["azp"] != expected:
            raise InvalidToken("the token was issued to another authorized party")
        if nonce is not None and not _same(claims.get("nonce"), nonce):
            raise InvalidToken("the nonce does not match the authentication request")
        return _verified("id_token", claims)

    def verify_access_token(self, token: str, *, audience: str | None = None) -> VerifiedToken:
        """Verify an RFC 9068 access token meant for ``audience``, else for this API's
        ``resource``, else for the client id; then, if configured, introspect it."""
        expected: str | Sequence[str] = audience or self.resources or self.audience or ""
        claims = self._decode(token, "access_token", expected, ACCESS_TOKEN_CLAIMS)
        verified = _verified("access_token", claims)
        if self.introspection is not None:
            self.introspection.check(token)
        return verified

    def _decode(
        self, token: str, kind: TokenKind, audience: str | Sequence[str], required: Sequence[str]
    ) -> dict[str, Any]:
        header = _header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise InvalidToken("the token's signing algorithm is not accepted")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key")
        typ = header.get("typ")
        is_access = isinstance(typ, str) and typ.lower() in ACCESS_TOKEN_TYPES
        if is_access != (kind == "access_token"):
            raise InvalidToken(f"the token is not an {kind.replace('_', ' ')}")
        key = self.keys.key(kid)
        if key.algorithm_name != alg:
            raise InvalidToken("the token's algorithm does not match its key")
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(required), "strict_aud": False},
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(_reason(exc)) from exc


def _resources(resource: str | Iterable[str] | None) -> tuple[str, ...]:
    """RFC 8707 2: each "MUST be an absolute URI ... MUST NOT include a fragment component"."""
    values = (resource,) if isinstance(resource, str) else tuple(resource or ())
    for uri in values:
        parts = urlsplit(uri) if isinstance(uri, str) else None
        if parts is None or not parts.scheme or not parts.netloc or "#" in uri:
            raise ValueError("a resource must be an absolute URI without a fragment")
    return values


def _header(token: object) -> dict[str, Any]:
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidToken("the token is not a signed JWT")
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("the token is not a signed JWT") from exc


def _reason(exc: jwt.InvalidTokenError) -> str:
    """A fixed description per failure; PyJWT's own messages may quote token content."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "the token is not valid yet"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "the token is meant for another audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "the token comes from another issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token lacks the {exc.claim} claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "the token's signature does not verify"
    return "the token is not valid"


def _same(actual: object, expected: str) -> bool:
    return isinstance(actual, str) and hmac.compare_digest(actual.encode(), expected.encode())


def _verified(kind: TokenKind, claims: dict[str, Any]) -> VerifiedToken:
    """Pull out acr, amr, auth_time; a signed token with ill-typed ones is refused, not guessed."""
    acr, amr, auth_time = claims.get("acr"), claims.get("amr", []), claims.get("auth_time")
    if acr is not None and not isinstance(acr, str):
        raise InvalidToken("the acr claim is not a string")
    if not isinstance(amr, list) or not all(isinstance(v, str) for v in amr):
        raise InvalidToken("the amr claim is not a list of strings")
    if auth_time is not None and (isinstance(auth_time, bool) or not isinstance(auth_time, int)):
        raise InvalidToken("the auth_time claim is not an integer")
    if not isinstance(claims.get("scope", ""), str):
        raise InvalidToken("the scope claim is not a string")
    if "client_id" in claims and not isinstance(claims["client_id"], str):
        raise InvalidToken("the client_id claim is not a string")
    return VerifiedToken(
        kind=kind,
        claims=Claims(claims),
        acr=acr,
        amr=tuple(amr),
        auth_time=auth_time,
    )
