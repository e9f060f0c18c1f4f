"""``idp clients``: register, change and list OAuth clients (relying parties, machine clients).

Every change goes through ``idp.oauth2.registration``, which checks it and audits it with the
registration before and after.
"""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from idp.cli.support import in_app
from idp.extensions import db
from idp.models import Client
from idp.oauth2 import client_admin, registration

GRANT_TYPES = client_admin.GRANT_TYPES


@click.group("clients", help="OAuth clients (relying parties and machine clients).")
def clients_group() -> None:
    pass


def acr_options(func):
    """The client policy options of ``clients create``, ``update`` and ``set-acr``."""
    func = click.option(
        "--default-acr", multiple=True,
        help="acr value assumed when a request names none (repeatable, preferred first).",
    )(func)  # fmt: skip
    return click.option(
        "--minimum-acr", help="The weakest acr any sign-in for this client may have."
    )(func)


ALLOW_NO_PKCE_HELP = (
    "Let this confidential client omit PKCE (RFC 9700 2.1.1 recommends it for every client); "
    "audited. Public clients always need it."
)
ONLINE_REFRESH_HELP = (
    "Issue refresh tokens without offline_access too, bound to the sign-in session: they stop "
    "working when it ends (OIDC Core 11)."
)
BACKCHANNEL_LOGOUT_HELP = (
    "Where a logout token is POSTed when a sign-in session this client got tokens in ends "
    "(OpenID Connect Back-Channel Logout 1.0); absolute http(s), no fragment."
)
SERVES_HELP = (
    "A resource (API) URI this client is: it may introspect access tokens issued for it, "
    "whichever client they went to (RFC 7662); repeatable."
)
SCOPE_HELP = (
    "A scope the client may be granted (repeatable; default openid profile email "
    "offline_access). admin or auditor (the admin API) make a machine client: confidential, "
    "--grant-type client_credentials only."
)
RESOURCE_HELP = (
    "A protected resource (API) URI its access tokens may be issued for with the resource "
    "parameter (RFC 8707); repeatable."
)


@clients_group.command("create", help="Register a client; prints it as JSON, secret shown once.")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI.")
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True)
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES))
@click.option("--public", is_flag=True, help="No secret; PKCE required (SPAs, native apps).")
@click.option("--first-party", is_flag=True, help="Skip the consent screen.")
@click.option("--allow-no-pkce", is_flag=True, help=ALLOW_NO_PKCE_HELP)
@click.option("--resource", "resource_uris", multiple=True, help=RESOURCE_HELP)
@click.option("--serves", "served_uris", multiple=True, help=SERVES_HELP)
@click.option("--online-refresh", is_flag=True, help=ONLINE_REFRESH_HELP)
@click.option("--backchannel-logout-uri", help=BACKCHANNEL_LOGOUT_HELP)
@click.option("--scope", "scopes", multiple=True, help=SCOPE_HELP)
@acr_options
@in_app
def clients_create(
    name, redirect_uris, logout_uris, grant_types, public, first_party, allow_no_pkce,
    resource_uris, served_uris, online_refresh, backchannel_logout_uri, scopes, minimum_acr,
    default_acr,
) -> None:  # fmt: skip
    client, secret = registration.register(
        name=name,
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(logout_uris),
        grant_types=list(grant_types) or None,
        public=public,
        first_party=first_party,
        allow_no_pkce=allow_no_pkce,
        minimum_acr=minimum_acr,
        default_acr_values=list(default_acr),
        resources=list(resource_uris),
        served_resources=list(served_uris),
        online_refresh=online_refresh,
        backchannel_logout_uri=backchannel_logout_uri,
        scopes=list(dict.fromkeys(scopes)),
    )
    db.session.commit()
    click.echo(json.dumps(client_json(client, secret), indent=2))


@clients_group.command(
    "update", help="Change a client's registered settings; what is not given stays. Prints it."
)
@click.argument("client_id")
@click.option("--name")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Replaces the redirect URIs.")
@click.option(
    "--post-logout-redirect-uri", "logout_uris", multiple=True,
    help="Replaces the post-logout redirect URIs.",
)  # fmt: skip
@click.option(
    "--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES),
    help="Replaces the grant types.",
)  # fmt: skip
@click.option("--first-party/--third-party", "first_party", default=None)
@click.option("--allow-no-pkce/--require-pkce", "allow_no_pkce", default=None,
              help=ALLOW_NO_PKCE_HELP)  # fmt: skip
@click.option("--resource", "resource_uris", multiple=True, help="Replaces the resources.")
@click.option("--serves", "served_uris", multiple=True, help="Replaces the served resources.")
@click.option("--clear-serves", is_flag=True, help="Remove the served resources.")
@click.option("--clear-resources", is_flag=True, help="Remove the registered resources.")
@click.option("--online-refresh/--no-online-refresh", "online_refresh", default=None,
              help=ONLINE_REFRESH_HELP)  # fmt: skip
@click.option("--backchannel-logout-uri", help=BACKCHANNEL_LOGOUT_HELP)
@click.option("--no-backchannel-logout-uri", is_flag=True,
              help="Stop back-channel logout for this client.")  # fmt: skip
@click.option("--scope", "scopes", multiple=True, help="Replaces the scopes.")
@acr_options
@click.option("--no-minimum-acr", is_flag=True, help="Remove the client's minimum acr.")
@click.option("--clear-default-acr", is_flag=True, help="Remove the default acr values.")
@in_app
def clients_update(
    client_id, name, redirect_uris, logout_uris, grant_types, first_party, allow_no_pkce,
    resource_uris, clear_resources, served_uris, clear_serves, online_refresh,
    backchannel_logout_uri, no_backchannel_logout_uri, scopes, minimum_acr, default_acr,
    no_minimum_acr, clear_default_acr,
) -> None:  # fmt: skip
    client = client_admin.find(client_id)
    changes = {
        "name": name,
        "redirect_uris": list(redirect_uris) or None,
        "post_logout_redirect_uris": list(logout_uris) or None,
        "grant_types": list(grant_types) or None,
        "first_party": first_party,
        "allow_no_pkce": allow_no_pkce,
        "resources": _resource_changes(resource_uris, clear_resources),
        "served_resources": _resource_changes(served_uris, clear_serves),
        "online_refresh": online_refresh,
        "scopes": list(dict.fromkeys(scopes)) or None,
        "backchannel_logout_uri": _backchannel_change(
            backchannel_logout_uri, no_backchannel_logout_uri
        ),
        **_acr_changes(client, minimum_acr, default_acr, no_minimum_acr, clear_default_acr),
    }
    registration.update(client, actor="cli", **{k: v for k, v in changes.items() if v is not None})
    db.session.commit()
    click.echo(json.dumps(client_json(client)))


@clients_group.command(
    "set-acr", help="Change a client's minimum acr and default acr values; others stay."
)
@click.argument("client_id")
@acr_options
@click.option("--no-minimum-acr", is_flag=True, help="Remove the client's minimum acr.")
@click.option("--clear-default-acr", is_flag=True, help="Remove the default acr values.")
@in_app
def clients_set_acr(
    client_id: str,
    minimum_acr: str | None,
    default_acr: tuple[str, ...],
    no_minimum_acr: bool,
    clear_default_acr: bool,
) -> None:
    client = client_admin.find(client_id)
    changes = _acr_changes(client, minimum_acr, default_acr, no_minimum_acr, clear_default_acr)
    registration.update(client, actor="cli", **changes)
    db.session.commit()
    click.echo(json.dumps(client_json(client)))


@clients_group.command("list", help="List clients as JSON lines (no secrets).")
@in_app
def clients_list() -> None:
    for client in db.session.execute(select(Client).order_by(Client.id)).scalars():
        click.echo(json.dumps(client_json(client)))


@clients_group.command(
    "rotate-secret", help="Give a confidential client a new secret; the old one stops working."
)
@click.argument("client_id")
@in_app
def clients_rotate_secret(client_id: str) -> None:
    """Prints ``{"client_id", "client_secret"}``: the only time the new secret is shown."""
    client = client_admin.find(client_id)
    secret = client_admin.rotate_secret(client, actor="cli")
    db.session.commit()
    click.echo(json.dumps({"client_id": client.client_id, "client_secret": secret}))


@clients_group.command("disable", help="Refuse a client everywhere and revoke its tokens.")
@click.argument("client_id")
@in_app
def clients_disable(client_id: str) -> None:
    changed = client_admin.disable(client_admin.find(client_id), actor="cli")
    db.session.commit()
    click.echo(json.dumps({"client_id": client_id, "disabled": True, "changed": changed}))


@clients_group.command("enable", help="Let a disabled client use the provider again.")
@click.argument("client_id")
@in_app
def clients_enable(client_id: str) -> None:
    changed = client_admin.enable(client_admin.find(client_id), actor="cli")
    db.session.commit()
    click.echo(json.dumps({"client_id": client_id, "disabled": False, "changed": changed}))


def _resource_changes(uris: tuple[str, ...], clear: bool) -> list[str] | None:
    """The resources the options ask for; ``None``: no change."""
    if uris and clear:
        raise ValueError("give resources or their removal, not both")
    return [] if clear else list(uris) or None


def _backchannel_change(uri: str | None, remove: bool) -> str | None:
    """The back-channel logout URI the options ask for (``""``: none); ``None``: no change."""
    if uri and remove:
        raise ValueError("give a back-channel logout URI or its removal, not both")
    return "" if remove else uri


def _acr_changes(
    client: Client,
    minimum_acr: str | None,
    default_acr: tuple[str, ...],
    no_minimum_acr: bool,
    clear_default_acr: bool,
) -> dict:
    """The acr settings the options ask for (absent options: no change)."""
    if (minimum_acr and no_minimum_acr) or (default_acr and clear_default_acr):
        raise ValueError("give a value or its removal, not both")
    changes: dict = {}
    if minimum_acr or no_minimum_acr:
        changes["minimum_acr"] = None if no_minimum_acr else minimum_acr
    if default_acr or clear_default_acr:
        changes["default_acr_values"] = [] if clear_default_acr else list(default_acr)
    return changes


def client_json(client: Client, secret: str | None = None) -> dict:
    data = client_admin.as_dict(client)
    if secret:
        data["client_secret"] = secret
    return data
