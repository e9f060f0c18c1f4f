"""Client registration, shared by the CLI and (later) the admin console."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app

from idp import audit, random_tokens
from idp.extensions import db
from idp.models import Client
from idp.models.client import DEFAULT_GRANT_TYPES


def _check_uri(uri: str) -> None:
    if len(uri) > 2000:
        raise ValueError("redirect URIs are at most 2000 characters")
    parts = urlsplit(uri)
    if parts.scheme not in {"http", "https"} and not parts.scheme.startswith("com."):
        raise ValueError(f"redirect URI {uri!r} must be http(s) or a private-use scheme")
    if parts.fragment:
        raise ValueError(f"redirect URI {uri!r} must not contain a fragment (RFC 6749 3.1.2)")


def register(
    *,
    name: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    grant_types: list[str] | None = None,
    public: bool = False,
    first_party: bool = False,
    minimum_acr: str | None = None,
    default_acr_values: list[str] | None = None,
) -> tuple[Client, str | None]:
    """Create a client; returns it and its secret (``None`` for public clients), shown once."""
    grant_types = grant_types or list(DEFAULT_GRANT_TYPES)
    if not name.strip() or len(name) > 200:
        raise ValueError("name: 1 to 200 characters")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ValueError("a client using authorization_code needs at least one --redirect-uri")
    if public and "client_credentials" in grant_types:
        raise ValueError("a public client cannot use client_credentials")
    for uri in [*redirect_uris, *(post_logout_redirect_uris or [])]:
        _check_uri(uri)
    _check_acr([minimum_acr] if minimum_acr else [], default_acr_values or [])
    secret = None if public else random_tokens.token(32)
    client = Client(
        client_id=random_tokens.token(16),
        secret_digest=random_tokens.digest(secret) if secret else None,
        name=name,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris or [],
        grant_types=grant_types,
        first_party=first_party,
        minimum_acr=minimum_acr or None,
        default_acr_values=default_acr_values or [],
    )
    db.session.add(client)
    audit.record("client_created", actor="cli", client_id=client.client_id, name=name)
    return client, secret


def set_acr_policy(client: Client, minimum_acr: str | None, default_acr_values: list[str]) -> None:
    """The client policy: its minimum acr (None: none) and default acr values; audited."""
    _check_acr([minimum_acr] if minimum_acr else [], default_acr_values)
    before = _acr_policy(client)
    client.minimum_acr, client.default_acr_values = minimum_acr or None, default_acr_values
    audit.record(
        "client_changed",
        actor="cli",
        client_id=client.client_id,
        before=before,
        after=_acr_policy(client),
    )


def _acr_policy(client: Client) -> dict:
    return {"minimum_acr": client.minimum_acr, "default_acr_values": client.default_acr_values}


def _check_acr(*groups: list[str]) -> None:
    """Only configured acr levels (or their aliases): an unknown one could never be met."""
    levels = current_app.config["ACR_LEVELS"]
    unknown = sorted({v for group in groups for v in group if levels.rank(v) is None})
    if unknown:
        supported = ", ".join(levels.supported)
        raise ValueError(f"unknown acr value(s) {', '.join(unknown)}; supported: {supported}")
