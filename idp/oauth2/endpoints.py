"""Token revocation (RFC 7009), introspection (RFC 7662) and RP-initiated logout (OIDC RPI 1.0).

Access tokens are JWTs, so they are found by their verified ``jti``; refresh tokens by digest.
Revoking a refresh token revokes its whole family, access tokens included (RFC 7009 section 2.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import current_app
from sqlalchemy import select

from idp import audit, random_tokens
from idp.clock import now
from idp.extensions import db
from idp.models import Token, User
from idp.models.tokens import revoke_where
from idp.oauth2 import resources, signing
from idp.oauth2.errors import InvalidRequestError, UnsupportedTokenTypeError
from idp.oauth2.grants import AUTH_METHODS


@dataclass
class FoundToken:
    """A token row and whether the presented value was its access or its refresh token."""

    row: Token
    kind: str

    def check_client(self, client) -> bool:
        return self.row.check_client(client)

    @property
    def active(self) -> bool:
        at = now()
        if self.row.revoked_at is not None:
            return False
        if self.kind == "refresh_token":
            alive = self.row.family_expires_at is not None and at < self.row.family_expires_at
            return alive and self.row.rotated_at is None
        return at < self.row.access_expires_at


def find_token(value: str, hint: str | None = None) -> FoundToken | None:
    """Look a presented token up: a verified JWT by ``jti``, anything else as a refresh token."""
    if value.count(".") == 2:
        try:
            claims = signing.verify(value, typ="at+jwt", verify_exp=False)
        except signing.InvalidJWT:
            return None
        row = db.session.execute(select(Token).where(Token.jti == claims.get("jti"))).scalar()
        return FoundToken(row, "access_token") if row else None
    row = db.session.execute(
        select(Token).where(Token.refresh_digest == random_tokens.digest(value))
    ).scalar()
    return FoundToken(row, "refresh_token") if row else None


class _TokenTypeHint:
    """A ``token_type_hint`` of neither kind is ``unsupported_token_type`` (RFC 7009 2.2.1), at
    both endpoints as Authlib has it, but a 400 with a description that does not quote the
    hint (``errors.UnsupportedTokenTypeError``)."""

    SUPPORTED_TOKEN_TYPES: tuple[str, ...]

    def check_params(self, request, client) -> None:
        hint = request.form.get("token_type_hint")
        if hint and hint not in self.SUPPORTED_TOKEN_TYPES:
            raise UnsupportedTokenTypeError()
        super().check_params(request, client)


class TokenRevocation(_TokenTypeHint, RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: FoundToken, request) -> None:
        row = token.row
        if token.kind == "refresh_token" and row.family:
            count = revoke_where(Token.family == row.family)
        else:
            count = revoke_where(Token.id == row.id)
        audit.record(
            "token_revoked",
            client_id=row.client_id,
            subject=audit.subject_of(row.user_id),
            token_type=token.kind,
            tokens_revoked=count,
        )


class TokenIntrospection(_TokenTypeHint, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: FoundToken, client, request) -> bool:
        """A client may introspect the tokens issued to it, and an API the access tokens whose
        audience is a resource it serves (RFC 7662 4: the server "MUST determine whether or not
        the token can be used at the protected resource making the introspection call")."""
        if token.check_client(client):
            return True
        audience = set(token.row.audience or ()) if token.kind == "access_token" else set()
        return bool(audience & set(client.served_resources or ()))

    def create_introspection_payload(self, token: FoundToken | None) -> dict:
        if token is None or not token.active:
            return {"active": False}
        row = token.row
        payload = {
            "active": True,
            "iss": current_app.config["ISSUER"],
            "client_id": row.client_id,
            "scope": row.scope if token.kind == "access_token" else row.get_refresh_scope(),
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "iat": row.issued_at,
            "exp": row.access_expires_at if token.kind == "access_token" else row.family_expires_at,
            "jti": row.jti,
        }
        if token.kind == "access_token":
            payload["aud"] = resources.aud_claim(row.audience or (), row.client_id)
        user = db.session.get(User, row.user_id) if row.user_id else None
        if user is not None and not user.enabled:  # a disabled account's tokens are inactive
            return {"active": False}
        payload["sub"] = user.sub if user else row.client_id
        if user:
            payload.update(acr=row.acr, amr=list(row.amr), auth_time=row.auth_time)
            payload["username"] = user.email
        return payload


class RPInitiatedLogout(EndSessionEndpoint):
    """Validates ``id_token_hint`` against our own keys and issuer; ends the session in views."""

    def get_server_jwks(self) -> dict:
        return signing.keystore().jwks()

    def validate_request(self, request):
        data = request.payload.data
        hint = data.get("id_token_hint")
        if hint:
            try:
                signing.verify(hint, verify_exp=False)
            except signing.InvalidJWT as exc:
                raise InvalidRequestError(f"id_token_hint is not valid: {exc}") from exc
        result = super().validate_request(request)
        uri = data.get("post_logout_redirect_uri")
        if uri and result.redirect_uri is None:
            raise InvalidRequestError(
                "post_logout_redirect_uri must be registered and needs a valid id_token_hint"
            )
        return result

    def end_session(self, end_session_request) -> None:
        """The view ends the provider session; nothing is kept per client yet."""
