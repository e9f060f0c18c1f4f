"""Standard claims released per scope (OIDC Core 5.4), shared by the ID token and UserInfo.

A claim without a value is left out (OIDC Core 5.3.2: "If a Claim is not returned, that Claim
Name SHOULD be omitted from the JSON object representing the Claims; it SHOULD NOT be present
with a null or empty string value"): a user without a name has no ``name`` claim.
"""

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
    return {name: value for name, value in claims.items() if _has_value(value)}


def _has_value(value: object) -> bool:
    """``False`` is a value (``email_verified``); ``None`` and a blank string are not."""
    return value is not None and not (isinstance(value, str) and not value.strip())
