"""An admin's actions on a registered client beyond its settings: a new secret, disable, enable;
the client list, and a client as JSON. Shared by ``idp clients``, the admin console and the
admin API; each audited with its actor, in the caller's transaction (the caller commits).

A new secret replaces the old one at once: only its digest is stored, as at registration, and
``server.query_client`` reads the digest afresh on every request, so the old secret fails in
every worker from the commit on. A disabled client is unknown to every endpoint (the same
fresh read of ``disabled_at``), and its tokens are revoked, as a disabled account's are, so
nothing it held comes back when it is enabled again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from idp import audit, random_tokens
from idp.clock import now
from idp.extensions import db
from idp.models import Client, Token
from idp.models.tokens import revoke_where

#: The grant types a client may be registered for (RFC 6749 4.1, 4.4, 6).
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


@dataclass(frozen=True)
class ClientPage:
    """One page of the client list and the ``after`` of the next (``None``: the last page)."""

    clients: list[Client]
    next_after: int | None


def listed(*, after: int = 0, limit: int = 50) -> ClientPage:
    """Clients in id order after ``after``: a walk of the primary key, no count of the table."""
    statement = select(Client).where(Client.id > after).order_by(Client.id).limit(limit + 1)
    rows = list(db.session.execute(statement).scalars())
    more = len(rows) > limit
    return ClientPage(rows[:limit], rows[limit - 1].id if more else None)


def find(client_id: str) -> Client:
    """The client registered as ``client_id``; ``LookupError`` if none is."""
    client = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar()
    if client is None:
        raise LookupError(f"no client {client_id}")
    return client


def rotate_secret(client: Client, *, actor: str) -> str:
    """Give a confidential client a new secret and return it, to be shown once; the old one
    stops working. A public client has none to rotate (RFC 6749 2.1): ``ValueError``."""
    if client.is_public:
        raise ValueError("a public client has no secret to rotate")
    secret = random_tokens.token(32)
    client.secret_digest = random_tokens.digest(secret)
    audit.record("client_secret_rotated", actor=actor, client_id=client.client_id)
    return secret


def disable(client: Client, *, actor: str) -> bool:
    """Disable ``client`` and revoke its tokens; ``False`` if it was disabled already."""
    if not client.enabled:
        return False
    client.disabled_at = now()
    revoked = revoke_where(Token.client_id == client.client_id)
    audit.record("client_disabled", actor=actor, client_id=client.client_id, tokens_revoked=revoked)
    return True


def enable(client: Client, *, actor: str) -> bool:
    """Let ``client`` use the provider again; ``False`` if it was not disabled."""
    if client.enabled:
        return False
    client.disabled_at = None
    audit.record("client_enabled", actor=actor, client_id=client.client_id)
    return True


def as_dict(client: Client) -> dict:
    """A client's registration as JSON (``idp clients`` and the admin API); never a secret."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "public": client.is_public,
        "first_party": client.first_party,
        "allow_no_pkce": client.allow_no_pkce,
        "minimum_acr": client.minimum_acr,
        "default_acr_values": client.default_acr_values,
        "resources": client.resources,
        "served_resources": client.served_resources,
        "online_refresh": client.online_refresh,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "scopes": client.scopes,
        "disabled": not client.enabled,
    }
