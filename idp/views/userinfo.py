"""The UserInfo endpoint (OIDC Core 5.3), GET and POST, for RFC 9068 access tokens.

Errors follow RFC 6750 section 3: 401 with ``WWW-Authenticate: Bearer error="invalid_token"``
for a missing, bad, expired or revoked token; 403 ``insufficient_scope`` without ``openid``.
"""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from idp.extensions import db
from idp.models import Token, User
from idp.oauth2 import claims as user_claims
from idp.oauth2 import signing


def _bearer_error(status: int, error: str, description: str):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = (
        f'Bearer error="{error}", error_description="{description}"'
    )
    return response


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("access_token")
    return None


def userinfo():
    value = _presented_token()
    if not value:
        response = _bearer_error(401, "invalid_request", "an access token is required")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    try:
        claims = signing.verify(value, typ="at+jwt")
    except signing.InvalidJWT:
        return _bearer_error(401, "invalid_token", "the access token is not valid")
    row = db.session.execute(select(Token).where(Token.jti == claims.get("jti"))).scalar()
    if row is None or row.is_revoked() or row.user_id is None:
        return _bearer_error(401, "invalid_token", "the access token is not active")
    if "openid" not in row.scope.split():
        return _bearer_error(403, "insufficient_scope", "the openid scope is required")
    user = db.session.get(User, row.user_id)
    return jsonify(user_claims.for_scope(user, row.scope))
