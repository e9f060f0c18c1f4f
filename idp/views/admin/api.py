"""The admin API at ``/admin/api/v1/``: the console's operations as JSON for scripts and
provisioning tools: users and the actions on them (roles, sign-in methods, browsers, sessions,
unlock, disable, password reset, MFA override), the MFA policy (default, roles, new roles, the
windows of sensitive operations), clients (register, change, new secret, disable), recovery
requests (read, deny), the audit events and the check of their hash chain, the authenticator
allow-list, and the dashboard's figures.

Callers are OAuth clients with a client-credentials access token (RFC 6749 4.4) carrying the
``admin`` scope (reads and changes) or the ``auditor`` scope (reads). The token is one this
provider issued, active, and meant for this API: its ``aud`` names the API
(``<issuer>/admin/api/v1``, asked for with ``resource``, RFC 8707) or is the bare client (a
token restricted to another API is refused here). Changes go through the functions the console
and the CLI call, audited with the client as actor (``client:<client_id>``). Lists page by key
(``after`` = the last id seen), never by offset.

Approving a recovery request is not offered: the two-person rule binds two people who each
checked the user's identity, and a client token names no person (see ``api_recovery``).

Each operation is declared once (``OPERATIONS``, gathered from the ``api_*`` modules); the same
declarations route and validate the requests and make ``/admin/api/v1/openapi.json``.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from idp.extensions import csrf
from idp.oauth2 import bearer
from idp.oauth2.errors import InvalidTokenError, OAuth2Error
from idp.views.admin import (
    api_audit,
    api_authenticators,
    api_clients,
    api_policy,
    api_recovery,
    api_users,
)
from idp.views.admin.api_support import ADMIN, AUDITOR, Caller
from idp.web.json_api import Operation, openapi, register

PREFIX = "/admin/api/v1"

bp = Blueprint("admin_api", __name__, url_prefix=PREFIX)
csrf.exempt(bp)

OPERATIONS: list[Operation] = [
    *api_users.OPERATIONS,
    *api_policy.OPERATIONS,
    *api_clients.OPERATIONS,
    *api_recovery.OPERATIONS,
    *api_audit.OPERATIONS,
    *api_authenticators.OPERATIONS,
]


def resource() -> str:
    """This API's resource identifier (RFC 8707), the ``aud`` a token may be restricted to."""
    return current_app.config["ISSUER"] + PREFIX


def _authenticate(op: Operation):
    try:
        claims, row = bearer.active_token(bearer.presented_token())
        if row.grant_type != "client_credentials" or not _meant_for_us(claims, row.client_id):
            raise InvalidTokenError("the access token is not for this API")
        bearer.require_scope(row, op.scopes)
    except OAuth2Error as error:
        return bearer.error_response(error)
    return Caller(row.client_id)


def _meant_for_us(claims: dict, client_id: str) -> bool:
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    return resource() in audiences or audiences == [client_id]


register(bp, OPERATIONS, _authenticate, problems=PREFIX + "/problems")


@bp.get("/openapi.json")
def openapi_document():
    issuer = current_app.config["ISSUER"]
    security = {
        "clientCredentials": {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": f"{issuer}/token",
                    "scopes": {ADMIN: "Read and change", AUDITOR: "Read only"},
                }
            },
        }
    }
    return jsonify(
        openapi(
            OPERATIONS,
            title="idp admin API",
            version="1",
            server=issuer + PREFIX,
            security=security,
            description=__doc__,
        )
    )
