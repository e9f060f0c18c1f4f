"""Bearer access tokens presented to the provider's own protected resources (RFC 6750):
UserInfo and the admin API.

One place reads the token from the request, checks it (our signature, ``typ: at+jwt``, not
expired, its row not revoked), and turns a refusal into RFC 6750's answer: 401 with a
``WWW-Authenticate: Bearer`` challenge for a missing, bad or inactive token, 403
``insufficient_scope`` for a token without the scope.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import jsonify, request
from sqlalchemy import select

from idp.extensions import db
from idp.models import Token
from idp.oauth2 import signing
from idp.oauth2.errors import (
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    OAuth2Error,
)


def presented_token() -> str | None:
    """RFC 6750 2.1 (header) and 2.2 (form body); never the query string (2.3 is discouraged)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("access_token")
    return None


def active_token(value: str | None) -> tuple[dict, Token]:
    """The claims and row of an access token this provider issued that is still active."""
    if not value:
        raise InvalidRequestError("an access token is required", status_code=401)
    try:
        claims = signing.verify(value, typ="at+jwt")
    except signing.InvalidJWT as exc:
        raise InvalidTokenError("the access token is not valid") from exc
    row = db.session.execute(select(Token).where(Token.jti == claims.get("jti"))).scalar()
    if row is None or row.is_revoked():
        raise InvalidTokenError("the access token is not active")
    return claims, row


def require_scope(row: Token, accepted: Iterable[str]) -> str:
    """The first of the ``accepted`` scopes the token carries, else ``insufficient_scope``."""
    granted = row.scope.split()
    for scope in accepted:
        if scope in granted:
            return scope
    raise InsufficientScopeError("the access token lacks the scope this request needs")


def error_response(error: OAuth2Error, body: dict | None = None):
    """The one place bearer-token refusals become responses: ``body`` (default: the error as
    OAuth JSON) with the error in the ``WWW-Authenticate`` challenge (RFC 6750 section 3)."""
    response = jsonify(body or {"error": error.error, "error_description": error.description})
    response.status_code = error.status_code
    response.headers["WWW-Authenticate"] = _challenge(error)
    return response


def _challenge(error: OAuth2Error) -> str:
    """RFC 6750 3.1: a request lacking any authentication information (the one
    ``invalid_request`` here: no token) gets a challenge without error details."""
    if isinstance(error, InvalidRequestError):
        return "Bearer"
    return f'Bearer error="{error.error}", error_description="{error.description}"'
