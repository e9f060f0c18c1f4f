"""The admin API's client operations: the list (paged by key), one client, registration, its
settings, a new secret, disable and enable.

The same functions as the console's client pages and ``idp clients``: ``idp.oauth2.registration``
checks and audits registration and settings (its ``ValueError`` is a 400 problem and nothing is
saved), ``idp.oauth2.client_admin`` the secret and the disabling. A secret is in the response
to the request that made it (``Cache-Control: no-store``, as every answer of this API) and
nowhere else: only its digest is kept, and the audit records name the client, never the secret.
"""

from __future__ import annotations

from idp.extensions import db
from idp.models import Client
from idp.oauth2 import client_admin, registration
from idp.views.admin.api_support import (
    BOOL,
    NAMES,
    NEXT_AFTER,
    OPT_STR,
    READ,
    STR,
    WRITE,
    Caller,
    not_found,
    obj,
    page_query,
    partial,
    refused,
)  # fmt: skip
from idp.web.json_api import Operation


def list_clients(caller: Caller, query: dict, body: None) -> dict:
    page = client_admin.listed(after=query.get("after", 0), limit=query.get("limit", 50))
    return {"clients": [client_admin.as_dict(c) for c in page.clients],
            "next_after": page.next_after}  # fmt: skip


def get_client(caller: Caller, query: dict, body: None, client_id: str) -> dict:
    return client_admin.as_dict(_client(client_id))


def create_client(caller: Caller, query: dict, body: dict) -> dict:
    try:
        settings = {"redirect_uris": [], **body}  # none: a machine client
        client, secret = registration.register(**settings, actor=caller.actor)
    except ValueError as error:
        db.session.rollback()
        raise refused(error) from None
    db.session.commit()
    return {"client": client_admin.as_dict(client), "client_secret": secret}


def update_client(caller: Caller, query: dict, body: dict, client_id: str) -> dict:
    client = _client(client_id)
    try:
        registration.update(client, actor=caller.actor, **body)
    except ValueError as error:
        db.session.rollback()
        raise refused(error) from None
    db.session.commit()
    return client_admin.as_dict(client)


def rotate_secret(caller: Caller, query: dict, body: None, client_id: str) -> dict:
    client = _client(client_id)
    try:
        secret = client_admin.rotate_secret(client, actor=caller.actor)
    except ValueError as error:  # a public client has no secret
        raise refused(error) from None
    db.session.commit()
    return {"client_id": client.client_id, "client_secret": secret}


def set_disabled(caller: Caller, query: dict, body: dict, client_id: str) -> dict:
    client = _client(client_id)
    change = client_admin.disable if body["disabled"] else client_admin.enable
    changed = change(client, actor=caller.actor)
    db.session.commit()
    return {"client_id": client.client_id, "disabled": not client.enabled, "changed": changed}


def _client(client_id: str) -> Client:
    try:
        return client_admin.find(client_id)
    except LookupError as error:
        raise not_found(error) from None


# -- the declarations ---------------------------------------------------------------------------
_URIS = {"type": "array", "items": {"type": "string", "maxLength": 2000}, "maxItems": 50,
         "default": []}  # fmt: skip
_GRANTS = {"type": "array", "items": {"type": "string", "enum": list(client_admin.GRANT_TYPES)},
           "minItems": 1, "uniqueItems": True}  # fmt: skip
_ACR = {"type": ["string", "null"], "maxLength": 200, "description": "null: none"}
#: What the console's client page edits, as ``registration.update`` takes it.
_SETTINGS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "redirect_uris": _URIS,
    "post_logout_redirect_uris": _URIS,
    "grant_types": _GRANTS,
    "first_party": BOOL,
    "allow_no_pkce": BOOL,
    "minimum_acr": _ACR,
    "default_acr_values": {"type": "array", "items": {"type": "string", "maxLength": 200},
                           "maxItems": 20},
    "backchannel_logout_uri": {"type": ["string", "null"], "maxLength": 2000},
}  # fmt: skip
_CREATE = {
    **partial(**_SETTINGS, public={**BOOL, "description": "no secret; PKCE required"}),
    "required": ["name"],
}
_PATCH = {**partial(**_SETTINGS), "minProperties": 1}
_CLIENT = obj(
    client_id=STR, name=STR, redirect_uris=NAMES, post_logout_redirect_uris=NAMES,
    grant_types=NAMES, public=BOOL, first_party=BOOL, allow_no_pkce=BOOL, minimum_acr=OPT_STR,
    default_acr_values=NAMES, resources=NAMES, served_resources=NAMES, online_refresh=BOOL,
    backchannel_logout_uri=OPT_STR, scopes=NAMES, disabled=BOOL,
)  # fmt: skip
_CLIENT_ID = {"client_id": {"type": "string", "maxLength": 64}}
_SECRET = {"type": "string", "description": "shown this once; only its digest is kept"}

OPERATIONS = [
    Operation(
        "GET", "/clients", "listClients", "Registered clients in id order after `after`.",
        READ, list_clients, query=page_query(),
        response=obj(clients={"type": "array", "items": _CLIENT}, next_after=NEXT_AFTER),
    ),
    Operation(
        "GET", "/clients/{client_id}", "getClient", "One client's registration (no secret).",
        READ, get_client, path_params=_CLIENT_ID, response=_CLIENT,
    ),
    Operation(
        "POST", "/clients", "createClient",
        "Register a client, checked as the console and `idp clients create` check it; a "
        "confidential client's secret is in this response only.",
        WRITE, create_client, status=201, body=_CREATE,
        response=obj(client=_CLIENT, client_secret={**_SECRET, "type": ["string", "null"]}),
    ),
    Operation(
        "PATCH", "/clients/{client_id}", "updateClient",
        "Change the settings given (the console's client page); the others stay.",
        WRITE, update_client, path_params=_CLIENT_ID, body=_PATCH, response=_CLIENT,
    ),
    Operation(
        "POST", "/clients/{client_id}/secret", "rotateClientSecret",
        "Give a confidential client a new secret, in this response only; the old one stops "
        "working at once.",
        WRITE, rotate_secret, path_params=_CLIENT_ID,
        response=obj(client_id=STR, client_secret=_SECRET),
    ),
    Operation(
        "PUT", "/clients/{client_id}/disabled", "setClientDisabled",
        "Disable the client (refused everywhere, its tokens revoked) or enable it again.",
        WRITE, set_disabled, path_params=_CLIENT_ID, body=obj(disabled=BOOL),
        response=obj(client_id=STR, disabled=BOOL, changed=BOOL),
    ),
]  # fmt: skip
