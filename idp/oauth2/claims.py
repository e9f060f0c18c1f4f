"""Standard claims released per scope (OIDC Core 5.4), shared by the ID token and UserInfo."""

from __future__ import annotations

from authlib.oauth2.rfc6749.util import scope_to_list

from idp.models import User

CLAIMS_SUPPORTED = (
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
    "email", "email_verified", "name",
)  # fmt: skip


def for_scope(user: User, scope: str) -> dict:
    """The user's claims that the granted ``scope`` allows."""
    scopes = set(scope_to_list(scope) or [])
    claims: dict = {"sub": user.sub}
    if "email" in scopes:
        claims.update(email=user.email, email_verified=False)
    if "profile" in scopes:
        claims["name"] = user.name
    return claims
