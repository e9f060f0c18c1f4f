"""The token generator and token storage: RFC 9068 JWT access tokens, opaque refresh tokens.

Access tokens are JWTs (``typ: at+jwt``) carrying acr, amr, auth_time, scope and client_id, so a
resource server can enforce step-up without a call back. Their ``jti`` is recorded so revocation
and introspection (RFC 7009, RFC 7662) can still answer "inactive".
"""

from __future__ import annotations

import base64
import json

from flask import current_app

from idp import audit, secrets_util
from idp.clock import now
from idp.extensions import db
from idp.models import Token
from idp.oauth2 import signing
from idp.oauth2.principal import Principal


def generate_token(
    grant_type: str,
    client,
    user: Principal | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict:
    """Authlib's token generator hook: build the token response body."""
    ttl = expires_in or current_app.config["ACCESS_TOKEN_TTL"]
    issued = now()
    claims = {
        "iss": current_app.config["ISSUER"],
        "sub": user.user.sub if user else client.client_id,
        "aud": client.client_id,
        "client_id": client.client_id,
        "iat": issued,
        "exp": issued + ttl,
        "jti": secrets_util.token(16),
        "scope": scope or "",
    }
    if user:
        claims.update(auth_time=user.auth_time, amr=list(user.amr))
        if user.acr:
            claims["acr"] = user.acr
        if user.sid:
            claims["sid"] = user.sid
    token = {
        "token_type": "Bearer",
        "access_token": signing.sign(claims, typ="at+jwt"),
        "expires_in": ttl,
        "scope": scope or "",
    }
    if include_refresh_token and user:
        token["refresh_token"] = secrets_util.token(32)
    return token


def save_token(token: dict, request) -> Token:
    """Authlib's save_token hook: record the jti and the refresh token's digest and family."""
    claims = _unverified_claims(token["access_token"])
    principal: Principal | None = request.user
    row = Token(
        jti=claims["jti"],
        client_id=request.client.client_id,
        user_id=principal.user.id if principal else None,
        scope=token.get("scope", ""),
        grant_type=request.payload.grant_type,
        issued_at=claims["iat"],
        access_expires_at=claims["exp"],
    )
    if principal:
        row.acr, row.amr = principal.acr, list(principal.amr)
        row.auth_time, row.sid = principal.auth_time, principal.sid
    if request.authorization_code is not None:
        row.code_id = request.authorization_code.id
    if "refresh_token" in token:
        _start_or_continue_family(row, token["refresh_token"], request.refresh_token)
    db.session.add(row)
    audit.record(
        "token_issued",
        client_id=row.client_id,
        subject=principal.user.sub if principal else None,
        grant_type=row.grant_type,
        jti=row.jti,
        refresh=row.refresh_digest is not None,
    )
    return row


def _start_or_continue_family(row: Token, refresh_token: str, previous: Token | None) -> None:
    row.refresh_digest = secrets_util.digest(refresh_token)
    if previous is not None:
        row.family, row.family_expires_at = previous.family, previous.family_expires_at
        row.code_id = previous.code_id
    else:
        row.family = secrets_util.token(16)
        row.family_expires_at = now() + current_app.config["REFRESH_TOKEN_TTL"]


def _unverified_claims(jwt_value: str) -> dict:
    """Read claims of a JWT we have just signed ourselves (no need to verify our own work)."""
    payload = jwt_value.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
