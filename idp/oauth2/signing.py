"""Signing and verifying the provider's own JWTs (ID tokens, RFC 9068 access tokens).

One place holds the allowed algorithms, so ``alg: none`` or an HMAC-with-public-key confusion can
never verify: only the algorithm recorded with each ``kid`` is accepted.
"""

from __future__ import annotations

import jwt
from flask import current_app

from idp.keys.signing import KeyStore, SigningKey


class InvalidJWT(Exception):
    """A JWT failed signature, algorithm, issuer or time checks; the message is safe to show."""


def keystore() -> KeyStore:
    return current_app.extensions["idp.keystore"]


def sign(claims: dict, typ: str = "JWT", key: SigningKey | None = None) -> str:
    """Sign ``claims`` with ``key`` (by default the current one), naming it in ``kid``."""
    key = key or keystore().current()
    headers = {"kid": key.kid, "typ": typ}
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)


def verify(token: str, *, typ: str | None = None, verify_exp: bool = True, **kwargs) -> dict:
    """Verify a JWT this provider issued and return its claims.

    ``kwargs`` go to PyJWT (``audience``...); the issuer is always checked.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidJWT("malformed token") from exc
    key = keystore().by_kid(header.get("kid", ""))
    if key is None or header.get("alg") != key.alg:
        raise InvalidJWT("unknown signing key or algorithm")
    if typ is not None and header.get("typ", "").lower() != typ:
        raise InvalidJWT("wrong token type")
    options = {"verify_exp": verify_exp, "verify_aud": "audience" in kwargs}
    try:
        return jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=[key.alg],
            issuer=current_app.config["ISSUER"],
            options=options,
            **kwargs,
        )
    except jwt.InvalidTokenError as exc:
        raise InvalidJWT(str(exc)) from exc
