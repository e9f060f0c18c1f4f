"""Registered OAuth clients (relying parties and machine clients), RFC 6749 section 2.

Confidential clients hold a 256-bit secret stored as its SHA-256 digest; public clients have none.
Every client uses PKCE (RFC 9700 section 2.1.1) unless a confidential one was registered with the
audited ``allow_no_pkce`` opt-out. Redirect URIs are compared by exact string (RFC 9700 4.1.3).
"""

from __future__ import annotations

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.util import scope_to_list
from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from idp import random_tokens
from idp.clock import now
from idp.extensions import db

DEFAULT_SCOPES = ("openid", "profile", "email", "offline_access")
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")


class Client(db.Model, ClientMixin):
    """An OAuth 2.0 / OIDC client and the checks Authlib asks of it."""

    __tablename__ = "clients"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=lambda: list(DEFAULT_GRANT_TYPES))
    scopes: Mapped[list] = mapped_column(JSON, default=lambda: list(DEFAULT_SCOPES))
    first_party: Mapped[bool] = mapped_column(default=False)
    #: A confidential client that may omit PKCE (an explicit, audited opt-out).
    allow_no_pkce: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: Client policy: the weakest acr any sign-in for it may have, and acr_values to assume.
    minimum_acr: Mapped[str | None] = mapped_column(String(200), nullable=True)
    default_acr_values: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    #: The resources (RFC 8707) this client is the API of: it may introspect access tokens
    #: issued for them (RFC 7662 4), whichever client they were issued to.
    served_resources: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    #: Refresh tokens without ``offline_access``, bound to the sign-in session (OIDC Core 11).
    online_refresh: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: The protected resources (RFC 8707) access tokens for this client may be issued for.
    resources: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    #: Where a logout token is POSTed when a session it got tokens in ends (OIDC BCL 1.0 2.2).
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    #: When an admin disabled it (migration 0025): every endpoint treats it as unknown.
    disabled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    @property
    def is_public(self) -> bool:
        """A public client has no secret (RFC 6749 section 2.1)."""
        return self.secret_digest is None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    @property
    def client_metadata(self) -> dict:
        """The registration metadata Authlib's RP-initiated logout endpoint reads."""
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """Only a client with exactly one redirect URI may omit it from the request."""
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client may have, in request order."""
        if not scope:
            return ""
        allowed = set(self.scopes)
        return " ".join(s for s in scope_to_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string comparison: no prefix, no added query, no normalisation."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return random_tokens.matches(client_secret, self.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Public clients authenticate with ``none``; confidential ones with a secret."""
        if self.is_public:
            return method == "none"
        return method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials" and self.is_public:
            return False
        return grant_type in self.grant_types
