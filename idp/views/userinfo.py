"""The UserInfo endpoint (OIDC Core 5.3), GET and POST, for RFC 9068 access tokens.

Errors follow RFC 6750 section 3 (``idp.oauth2.bearer``): 401 with ``WWW-Authenticate: Bearer
error="invalid_token"`` for a bad, expired or revoked token, or one of a disabled account; 403
``insufficient_scope`` without ``openid``; a request without a token gets a bare ``Bearer``
challenge.
"""

from __future__ import annotations

from flask import Response, jsonify

from idp.extensions import db
from idp.models import User
from idp.oauth2 import bearer
from idp.oauth2 import claims as user_claims
from idp.oauth2.errors import InvalidTokenError, OAuth2Error


def userinfo() -> Response:
    """The claims the access token's scope releases about its user."""
    try:
        _, row = bearer.active_token(bearer.presented_token())
        user = db.session.get(User, row.user_id) if row.user_id is not None else None
        if user is None or not user.enabled:
            raise InvalidTokenError("the access token is not active")
        bearer.require_scope(row, ("openid",))
    except OAuth2Error as error:
        return bearer.error_response(error)
    return jsonify(user_claims.for_scope(user, row.scope))
