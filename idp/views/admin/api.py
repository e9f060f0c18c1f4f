"""The admin API at ``/admin/api/v1/``: the console's operations as JSON for scripts and
provisioning tools.

Callers are OAuth clients with a client-credentials access token (RFC 6749 4.4) carrying the
``admin`` scope (reads and changes) or the ``auditor`` scope (reads). The token is one this
provider issued, active, and meant for this API: its ``aud`` names the API
(``<issuer>/admin/api/v1``, asked for with ``resource``, RFC 8707) or is the bare client (a
token restricted to another API is refused here). Changes are audited with the client as actor.
Lists page by key (``after`` = the last id seen), never by offset.

Each operation is declared once in ``OPERATIONS``; the same declarations route and validate the
requests and make ``/admin/api/v1/openapi.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, jsonify

from idp.accounts import admin_actions, admin_view, audit_log
from idp.extensions import csrf, db
from idp.models import User
from idp.oauth2 import bearer
from idp.oauth2.errors import InvalidTokenError, OAuth2Error
from idp.web.json_api import Operation, Problem, openapi, register

PREFIX = "/admin/api/v1"
ADMIN, AUDITOR = "admin", "auditor"
READ, WRITE = (AUDITOR, ADMIN), (ADMIN,)
MAX_PAGE = 200

bp = Blueprint("admin_api", __name__, url_prefix=PREFIX)
csrf.exempt(bp)


@dataclass(frozen=True)
class Caller:
    """The client calling, named in the audit trail as ``client:<client_id>``."""

    client_id: str

    @property
    def actor(self) -> str:
        return f"client:{self.client_id}"


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


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise Problem(404, "not_found", "no user has this id")
    return user


def _summary(user: User) -> dict:
    return {"id": user.id, "sub": user.sub, "email": user.email, "name": user.name,
            "roles": admin_view.role_names(user), "created_at": user.created_at}  # fmt: skip


def list_users(caller: Caller, query: dict, body: None) -> dict:
    limit = query.get("limit", 50)
    page = admin_view.search(
        query.get("q", ""), query.get("role", ""), after=query.get("after", 0), limit=limit
    )
    return {"users": [_summary(u) for u in page.users], "next_after": page.next_after}


def get_user(caller: Caller, query: dict, body: None, user_id: int) -> dict:
    user = _user(user_id)
    return {"id": user.id, **admin_view.detail(user)}


def set_user_roles(caller: Caller, query: dict, body: dict, user_id: int) -> dict:
    user = _user(user_id)
    try:
        before, after = admin_view.set_roles(user, body["roles"], actor=caller.actor)
    except LookupError as error:
        raise Problem(400, "unknown_role", str(error)) from None
    db.session.commit()
    return {"before": before, "after": after}


def revoke_factor(caller: Caller, query: dict, body: None, user_id: int, factor_id: int) -> dict:
    factor = _act(admin_actions.revoke_factor, _user(user_id), factor_id, actor=caller.actor)
    return {"revoked": [factor.id]}


def reset_factors(caller: Caller, query: dict, body: None, user_id: int) -> dict:
    factors = admin_actions.reset_factors(_user(user_id), actor=caller.actor)
    return {"revoked": [f.id for f in factors]}


def forget_browser(caller: Caller, query: dict, body: None, user_id: int, device_id: int) -> dict:
    _act(admin_actions.forget_browser, _user(user_id), device_id, actor=caller.actor)
    return {"forgotten": [device_id]}


def end_sessions(caller: Caller, query: dict, body: None, user_id: int) -> dict:
    return {"ended": admin_actions.end_sessions(_user(user_id), actor=caller.actor)}


def unlock(caller: Caller, query: dict, body: None, user_id: int) -> dict:
    done = admin_actions.unlock(_user(user_id), actor=caller.actor)
    return {"factors_unlocked": done.factors, "password_backoff_cleared": done.password_backoff}


def set_disabled(caller: Caller, query: dict, body: dict, user_id: int) -> dict:
    user = _user(user_id)
    if body["disabled"]:
        changed = admin_actions.disable(user, actor=caller.actor, reason=body.get("reason", ""))
    else:
        changed = admin_actions.enable(user, actor=caller.actor)
    return {"disabled": not user.enabled, "changed": changed}


def send_reset_link(caller: Caller, query: dict, body: None, user_id: int) -> dict:
    admin_actions.send_reset_link(_user(user_id), actor=caller.actor)
    return {"sent": True}


def _act(action, user: User, item_id: int, *, actor: str):
    """An action on one of the user's factors or browsers; an id that is not theirs is 404."""
    try:
        return action(user, item_id, actor=actor)
    except LookupError as error:
        raise Problem(404, "not_found", str(error)) from None


def list_audit_events(caller: Caller, query: dict, body: None) -> dict:
    filters = audit_log.Filters(**{k: v for k, v in query.items() if k in _AUDIT_FILTERS})
    try:
        page = audit_log.page(filters, before=query.get("before"), limit=query.get("limit", 50))
    except audit_log.FilterError as error:
        raise Problem(400, "invalid_request", str(error)) from None
    return {"events": [audit_log.as_dict(r) for r in page.rows], "next_before": page.next_before}


# -- the declarations: schemas of what goes in and comes out ------------------------------------
_INT = {"type": "integer"}
_TIME = {"type": "integer", "description": "seconds since 1970-01-01 UTC"}
_OPT_TIME = {"type": ["integer", "null"], "description": "seconds since 1970-01-01 UTC"}
_STR = {"type": "string"}
_NAMES = {"type": "array", "items": _STR}
_USER_ID = {"user_id": {"type": "integer", "minimum": 1}}
_FACTOR_ID = {**_USER_ID, "factor_id": {"type": "integer", "minimum": 1}}
_DEVICE_ID = {**_USER_ID, "device_id": {"type": "integer", "minimum": 1}}
_IDS = {"type": "array", "items": _INT}
_DAY = {"type": "string", "format": "date", "description": "YYYY-MM-DD, UTC, included"}
_AUDIT_FILTERS = {
    "since": _DAY, "until": _DAY,
    "event": {"type": "string", "maxLength": 64},
    "email": {"type": "string", "maxLength": 320, "description": "the user's events"},
    "client_id": {"type": "string", "maxLength": 64},
    "outcome": {"type": "string", "enum": ["success", "failure"]},
    "ip": {"type": "string", "maxLength": 64},
}  # fmt: skip
_EVENT = {
    "type": "object",
    "properties": {
        "seq": _INT, "at": _TIME, "event": _STR, "outcome": _STR,
        "actor": {"type": ["string", "null"]}, "subject": {"type": ["string", "null"]},
        "client_id": {"type": ["string", "null"]}, "ip": {"type": ["string", "null"]},
        "user_agent": {"type": ["string", "null"]}, "request_id": {"type": ["string", "null"]},
        "detail": {"type": "object"}, "prev_hash": _STR, "hash": _STR,
        "mac_kid": {"type": ["string", "null"]},
    },
    "required": ["seq", "at", "event", "outcome", "detail", "prev_hash", "hash"],
    "additionalProperties": False,
}  # fmt: skip


def _object(**properties) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}  # fmt: skip


_SUMMARY = _object(id=_INT, sub=_STR, email=_STR, name=_STR, roles=_NAMES, created_at=_TIME)
_FACTOR = {
    **_object(kind=_STR, name=_STR, status=_STR, created_at=_TIME, last_used_at=_OPT_TIME,
              locked={"type": "boolean"}),
    "additionalProperties": True,
}  # fmt: skip
_DETAIL = {
    "type": "object",
    "properties": {
        "id": _INT, "sub": _STR, "email": _STR, "name": _STR, "created_at": _TIME,
        "roles": _NAMES,
        "factors": {"type": "array", "items": _FACTOR},
        "remembered_browsers": {"type": "array", "items": {"type": "object"}},
        "sessions": {"type": "array", "items": {"type": "object"}},
        "offline_grants": {"type": "array", "items": {"type": "object"}},
        "recent_events": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["id", "sub", "email", "roles", "factors", "sessions", "recent_events"],
}  # fmt: skip

OPERATIONS = [
    Operation(
        "GET", "/users", "listUsers",
        "Users whose email or name starts with q, holding role, in id order after `after`.",
        READ, list_users,
        response=_object(users={"type": "array", "items": _SUMMARY},
                         next_after={"type": ["integer", "null"]}),
        query={"q": {"type": "string", "maxLength": 320},
               "role": {"type": "string", "maxLength": 64},
               "after": {"type": "integer", "minimum": 0},
               "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
    ),
    Operation(
        "GET", "/users/{user_id}", "getUser",
        "One user: roles, sign-in methods, remembered browsers, sessions, grants, recent events.",
        READ, get_user, response=_DETAIL, path_params=_USER_ID,
    ),
    Operation(
        "PUT", "/users/{user_id}/roles", "setUserRoles",
        "Replace the user's roles (audited with before and after).",
        WRITE, set_user_roles, path_params=_USER_ID,
        body=_object(roles={"type": "array", "items": {"type": "string", "maxLength": 64},
                            "maxItems": 64, "uniqueItems": True}),
        response=_object(before=_NAMES, after=_NAMES),
    ),
    Operation(
        "DELETE", "/users/{user_id}/factors/{factor_id}", "revokeFactor",
        "Revoke one sign-in method (the last routine one takes the backup codes with it).",
        WRITE, revoke_factor, path_params=_FACTOR_ID, response=_object(revoked=_IDS),
    ),
    Operation(
        "DELETE", "/users/{user_id}/factors", "resetFactors",
        "Revoke every sign-in method, pending ones too.",
        WRITE, reset_factors, path_params=_USER_ID, response=_object(revoked=_IDS),
    ),
    Operation(
        "DELETE", "/users/{user_id}/browsers/{device_id}", "forgetBrowser",
        "Forget one remembered browser: it is asked for a second factor again.",
        WRITE, forget_browser, path_params=_DEVICE_ID, response=_object(forgotten=_IDS),
    ),
    Operation(
        "DELETE", "/users/{user_id}/sessions", "endSessions",
        "End every sign-in session (their online tokens and back-channel logout go with them).",
        WRITE, end_sessions, path_params=_USER_ID, response=_object(ended=_INT),
    ),
    Operation(
        "POST", "/users/{user_id}/unlock", "unlockUser",
        "Lift the lock of the user's factors and the wait on their password.",
        WRITE, unlock, path_params=_USER_ID,
        response=_object(factors_unlocked=_INT,
                         password_backoff_cleared={"type": "boolean"}),
    ),
    Operation(
        "PUT", "/users/{user_id}/disabled", "setUserDisabled",
        "Disable (sessions end, every token is revoked) or enable the account.",
        WRITE, set_disabled, path_params=_USER_ID,
        body={"type": "object", "additionalProperties": False, "required": ["disabled"],
              "properties": {"disabled": {"type": "boolean"},
                             "reason": {"type": "string", "maxLength": 500}}},
        response=_object(disabled={"type": "boolean"}, changed={"type": "boolean"}),
    ),
    Operation(
        "POST", "/users/{user_id}/password-reset", "sendPasswordReset",
        "Mail the user the single-use link of the forgot-password page.",
        WRITE, send_reset_link, path_params=_USER_ID,
        response=_object(sent={"type": "boolean"}),
    ),
    Operation(
        "GET", "/audit-events", "listAuditEvents",
        "Audit events newest first, filtered; pass next_before as before for the next page.",
        READ, list_audit_events,
        response=_object(events={"type": "array", "items": _EVENT},
                         next_before={"type": ["integer", "null"]}),
        query={**_AUDIT_FILTERS, "before": {"type": "integer", "minimum": 1},
               "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
    ),
]  # fmt: skip

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
