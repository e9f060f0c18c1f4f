"""The UserInfo endpoint (OIDC Core 5.3), GET and POST, for RFC 9068 access tokens.

Errors follow RFC 6750 section 3: 401 with ``WWW-Authenticate: Bearer error="invalid_token"``
for a bad, expired or revoked token; 403 ``insufficient_scope`` without ``openid``; a request
without a token gets a bare ``Bearer`` challenge.
"""

from __future__ import annotations

from flask import Response, jsonify, request
from sqlalchemy import select

from idp.extensions import db
from idp.models import Token, User
from idp.oauth2 import claims as user_claims
from idp.oauth2 import signing
from idp.oauth2.errors import (
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    OAuth2Error,
)


def userinfo() -> Response:
    """The claims the access token's scope releases about its user."""
    try:
        row = _active_token(_presented_token())
    except OAuth2Error as error:
        return _bearer_error(error)
    user = db.session.get(User, row.user_id)
    return jsonify(user_claims.for_scope(user, row.scope))


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("access_token")
    return None


def _active_token(value: str | None) -> Token:
    """The token row of an access token we issued that is still active and has ``openid``."""
    if not value:
        raise InvalidRequestError("an access token is required", status_code=401)
    try:
        claims = signing.verify(value, typ="at+jwt")
    except signing.InvalidJWT as exc:
        raise InvalidTokenError("the access token is not valid") from exc
    row = db.session.execute(select(Token).where(Token.jti == claims.get("jti"))).scalar()
    if row is None or row.is_revoked() or row.user_id is None:
        raise InvalidTokenError("the access token is not active")
    if "openid" not in row.scope.split():
        raise InsufficientScopeError("the openid scope is required")
    return row


def _bearer_error(error: OAuth2Error) -> Response:
    """The one place UserInfo's errors become responses: the error as JSON and in the
    ``WWW-Authenticate`` challenge (RFC 6750 section 3)."""
    response = jsonify(error=error.error, error_description=error.description)
    response.status_code = error.status_code
    response.headers["WWW-Authenticate"] = _challenge(error)
    return response


def _challenge(error: OAuth2Error) -> str:
    """RFC 6750 3.1: a request lacking any authentication information (the one
    ``invalid_request`` here: no token) gets a challenge without error details."""
    if isinstance(error, InvalidRequestError):
        return "Bearer"
    return f'Bearer error="{error.error}", error_description="{error.description}"'
