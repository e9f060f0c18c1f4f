"""Client registration and its changes, shared by the CLI and the admin console.

Every setting is checked here (RFC 6749 3.1.2 redirect URIs; configured acr levels; PKCE for
public clients; OIDC Back-Channel Logout 2.2 logout URIs) and every change is audited with the
registration before and after.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app

from idp import audit, random_tokens
from idp.extensions import db
from idp.models import Client
from idp.models.client import DEFAULT_GRANT_TYPES, DEFAULT_SCOPES
from idp.oauth2 import resources
from idp.oauth2.errors import InvalidTargetError
from idp.oauth2.scopes import check_registration as check_scopes

#: The registered settings ``update`` may change, and what ``_settings`` reports.
SETTINGS = (
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "grant_types",
    "first_party",
    "allow_no_pkce",
    "minimum_acr",
    "default_acr_values",
    "resources",
    "served_resources",
    "online_refresh",
    "backchannel_logout_uri",
    "scopes",
)
#: Settings where an empty value means none (stored as NULL).
_NULLABLE = frozenset({"minimum_acr", "backchannel_logout_uri"})


def register(
    *,
    name: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    grant_types: list[str] | None = None,
    public: bool = False,
    first_party: bool = False,
    allow_no_pkce: bool = False,
    minimum_acr: str | None = None,
    default_acr_values: list[str] | None = None,
    resources: list[str] | None = None,
    served_resources: list[str] | None = None,
    online_refresh: bool = False,
    backchannel_logout_uri: str | None = None,
    scopes: list[str] | None = None,
    actor: str = "cli",
) -> tuple[Client, str | None]:
    """Create a client; returns it and its secret (``None`` for public clients), shown once.
    ``actor``: who registers it, for the audit record (an admin's email in the console)."""
    secret = None if public else random_tokens.token(32)
    client = Client(
        client_id=random_tokens.identifier(16),
        secret_digest=random_tokens.digest(secret) if secret else None,
        name=name,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris or [],
        grant_types=grant_types or list(DEFAULT_GRANT_TYPES),
        first_party=first_party,
        allow_no_pkce=allow_no_pkce,
        minimum_acr=minimum_acr or None,
        default_acr_values=default_acr_values or [],
        resources=resources or [],
        served_resources=served_resources or [],
        online_refresh=online_refresh,
        backchannel_logout_uri=backchannel_logout_uri or None,
        scopes=scopes or list(DEFAULT_SCOPES),
    )
    _check(client)
    db.session.add(client)
    audit.record(
        "client_created", actor=actor, client_id=client.client_id, name=name,
        after=_settings(client),
    )  # fmt: skip
    return client, secret


def update(client: Client, *, actor: str, **changes) -> None:
    """Change registered settings (names in ``SETTINGS``); checked as a new one, audited."""
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise ValueError(f"not a client setting: {', '.join(sorted(unknown))}")
    before = _settings(client)
    for key, value in changes.items():
        setattr(client, key, (value or None) if key in _NULLABLE else value)
    _check(client)
    audit.record(
        "client_changed", actor=actor, client_id=client.client_id, before=before,
        after=_settings(client),
    )  # fmt: skip


def _settings(client: Client) -> dict:
    return {key: getattr(client, key) for key in SETTINGS}


def _check(client: Client) -> None:
    if not client.name.strip() or len(client.name) > 200:
        raise ValueError("name: 1 to 200 characters")
    if "authorization_code" in client.grant_types and not client.redirect_uris:
        raise ValueError("a client using authorization_code needs at least one --redirect-uri")
    if client.is_public and "client_credentials" in client.grant_types:
        raise ValueError("a public client cannot use client_credentials")
    if client.is_public and client.allow_no_pkce:
        raise ValueError("a public client cannot omit PKCE (RFC 9700 2.1.1): nothing else binds "
                         "its code to it")  # fmt: skip
    for uri in [*client.redirect_uris, *client.post_logout_redirect_uris]:
        _check_uri(uri)
    _check_acr([client.minimum_acr] if client.minimum_acr else [], client.default_acr_values)
    _check_resources(client.resources)
    _check_resources(client.served_resources)
    if client.is_public and client.served_resources:
        raise ValueError("an API that introspects tokens (--serves) must be confidential")
    if client.backchannel_logout_uri is not None:
        _check_backchannel_logout_uri(client.backchannel_logout_uri)
    check_scopes(client.scopes, public=client.is_public, grant_types=client.grant_types)


def _check_backchannel_logout_uri(uri: str) -> None:
    """OIDC Back-Channel Logout 1.0 2.2: "an absolute URI as defined by Section 4.3 of
    [RFC3986]" that "MUST NOT include a fragment component"; http(s), since it is POSTed to."""
    parts = urlsplit(uri)
    if len(uri) > 2000 or parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(
            f"back-channel logout URI {uri!r} must be an absolute http(s) URI of at most 2000 "
            "characters"
        )
    if "#" in uri:
        raise ValueError(f"back-channel logout URI {uri!r} must not contain a fragment (OIDC "
                         "Back-Channel Logout 2.2)")  # fmt: skip


def _check_resources(uris: list[str]) -> None:
    """RFC 8707 2: each an absolute URI without a fragment."""
    try:
        resources.registered(uris)
    except InvalidTargetError:
        raise ValueError("a resource must be an absolute URI without a fragment") from None


def _check_uri(uri: str) -> None:
    if len(uri) > 2000:
        raise ValueError("redirect URIs are at most 2000 characters")
    parts = urlsplit(uri)
    if parts.scheme not in {"http", "https"} and not parts.scheme.startswith("com."):
        raise ValueError(f"redirect URI {uri!r} must be http(s) or a private-use scheme")
    if parts.fragment:
        raise ValueError(f"redirect URI {uri!r} must not contain a fragment (RFC 6749 3.1.2)")


def _check_acr(*groups: list[str]) -> None:
    """Only configured acr levels (or their aliases): an unknown one could never be met."""
    levels = current_app.config["ACR_LEVELS"]
    unknown = sorted({v for group in groups for v in group if levels.rank(v) is None})
    if unknown:
        supported = ", ".join(levels.supported)
        raise ValueError(f"unknown acr value(s) {', '.join(unknown)}; supported: {supported}")
