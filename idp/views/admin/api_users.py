"""The admin API's user operations: find and read users, and the console's actions on one user
(roles, sign-in methods, remembered browsers, sessions, unlock, disable, password reset, MFA
override). Each goes through the function the console and the CLI call
(``idp.accounts.admin_actions``, ``admin_view``), audited with the client as actor.
"""

from __future__ import annotations

from idp.accounts import admin_actions, admin_view, policies
from idp.extensions import db
from idp.models import User
from idp.policy.rules import OVERRIDES
from idp.views.admin.api_support import (
    BOOL,
    IDS,
    INT,
    NAMES,
    NEXT_AFTER,
    OPT_TIME,
    READ,
    STR,
    TIME,
    WRITE,
    Caller,
    not_found,
    obj,
    page_query,
    refused,
)  # fmt: skip
from idp.web.json_api import Operation, Problem


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise not_found("no user has this id")
    return user


def _summary(user: User) -> dict:
    return {"id": user.id, "sub": user.sub, "email": user.email, "name": user.name,
            "roles": admin_view.role_names(user), "created_at": user.created_at}  # fmt: skip


def list_users(caller: Caller, query: dict, body: None) -> dict:
    limit = query.get("limit", 50)
    page = admin_view.search(
        query.get("q", ""), query.get("role", ""), mfa=query.get("mfa", ""),
        after=query.get("after", 0), limit=limit,
    )  # fmt: skip
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


def set_override(caller: Caller, query: dict, body: dict, user_id: int) -> dict:
    """The console's override, with the end as epoch seconds instead of a day."""
    user = _user(user_id)
    try:
        admin_actions.set_override(
            user, body["kind"], body["until"], body["reason"], actor=caller.actor
        )
    except ValueError as error:
        db.session.rollback()
        raise refused(error) from None
    row = policies.override_of(user)
    return {"override": {"kind": row.kind, "until": row.until, "reason": row.reason}}


def clear_override(caller: Caller, query: dict, body: None, user_id: int) -> dict:
    return {"cleared": admin_actions.clear_override(_user(user_id), actor=caller.actor)}


def _act(action, user: User, item_id: int, *, actor: str):
    """An action on one of the user's factors or browsers; an id that is not theirs is 404."""
    try:
        return action(user, item_id, actor=actor)
    except LookupError as error:
        raise not_found(error) from None


# -- the declarations: schemas of what goes in and comes out ------------------------------------
_USER_ID = {"user_id": {"type": "integer", "minimum": 1}}
_FACTOR_ID = {**_USER_ID, "factor_id": {"type": "integer", "minimum": 1}}
_DEVICE_ID = {**_USER_ID, "device_id": {"type": "integer", "minimum": 1}}
_SUMMARY = obj(id=INT, sub=STR, email=STR, name=STR, roles=NAMES, created_at=TIME)
_OVERRIDE = obj(kind={"type": "string", "enum": list(OVERRIDES)}, until=TIME, reason=STR)
_FACTOR = {
    **obj(kind=STR, name=STR, status=STR, created_at=TIME, last_used_at=OPT_TIME, locked=BOOL),
    "additionalProperties": True,
}
_DETAIL = {
    "type": "object",
    "properties": {
        "id": INT, "sub": STR, "email": STR, "name": STR, "created_at": TIME,
        "roles": NAMES, "disabled_at": OPT_TIME, "disabled_reason": {"type": ["string", "null"]},
        "override": {"oneOf": [{"type": "null"}, _OVERRIDE]},
        "factors": {"type": "array", "items": _FACTOR},
        "remembered_browsers": {"type": "array", "items": {"type": "object"}},
        "sessions": {"type": "array", "items": {"type": "object"}},
        "offline_grants": {"type": "array", "items": {"type": "object"}},
        "recent_events": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["id", "sub", "email", "roles", "override", "factors", "sessions",
                 "recent_events"],
}  # fmt: skip

OPERATIONS = [
    Operation(
        "GET", "/users", "listUsers",
        "Users whose email or name starts with q, holding role, in the two-step verification "
        "state mfa (none, enrolled, grace, locked; empty: any), in id order after `after`.",
        READ, list_users,
        response=obj(users={"type": "array", "items": _SUMMARY}, next_after=NEXT_AFTER),
        query=page_query(q={"type": "string", "maxLength": 320},
                         role={"type": "string", "maxLength": 64},
                         mfa={"type": "string", "enum": ["", *admin_view.MFA_STATUSES]}),
    ),
    Operation(
        "GET", "/users/{user_id}", "getUser",
        "One user: roles, MFA override, sign-in methods, remembered browsers, sessions, grants, "
        "recent events.",
        READ, get_user, response=_DETAIL, path_params=_USER_ID,
    ),
    Operation(
        "PUT", "/users/{user_id}/roles", "setUserRoles",
        "Replace the user's roles (audited with before and after).",
        WRITE, set_user_roles, path_params=_USER_ID,
        body=obj(roles={"type": "array", "items": {"type": "string", "maxLength": 64},
                        "maxItems": 64, "uniqueItems": True}),
        response=obj(before=NAMES, after=NAMES),
    ),
    Operation(
        "DELETE", "/users/{user_id}/factors/{factor_id}", "revokeFactor",
        "Revoke one sign-in method (the last routine one takes the backup codes with it).",
        WRITE, revoke_factor, path_params=_FACTOR_ID, response=obj(revoked=IDS),
    ),
    Operation(
        "DELETE", "/users/{user_id}/factors", "resetFactors",
        "Revoke every sign-in method, pending ones too.",
        WRITE, reset_factors, path_params=_USER_ID, response=obj(revoked=IDS),
    ),
    Operation(
        "DELETE", "/users/{user_id}/browsers/{device_id}", "forgetBrowser",
        "Forget one remembered browser: it is asked for a second factor again.",
        WRITE, forget_browser, path_params=_DEVICE_ID, response=obj(forgotten=IDS),
    ),
    Operation(
        "DELETE", "/users/{user_id}/sessions", "endSessions",
        "End every sign-in session (their online tokens and back-channel logout go with them).",
        WRITE, end_sessions, path_params=_USER_ID, response=obj(ended=INT),
    ),
    Operation(
        "POST", "/users/{user_id}/unlock", "unlockUser",
        "Lift the lock of the user's factors and the wait on their password.",
        WRITE, unlock, path_params=_USER_ID,
        response=obj(factors_unlocked=INT, password_backoff_cleared=BOOL),
    ),
    Operation(
        "PUT", "/users/{user_id}/disabled", "setUserDisabled",
        "Disable (sessions end, every token is revoked) or enable the account.",
        WRITE, set_disabled, path_params=_USER_ID,
        body={"type": "object", "additionalProperties": False, "required": ["disabled"],
              "properties": {"disabled": BOOL, "reason": {"type": "string", "maxLength": 500}}},
        response=obj(disabled=BOOL, changed=BOOL),
    ),
    Operation(
        "POST", "/users/{user_id}/password-reset", "sendPasswordReset",
        "Mail the user the single-use link of the forgot-password page.",
        WRITE, send_reset_link, path_params=_USER_ID, response=obj(sent=BOOL),
    ),
    Operation(
        "PUT", "/users/{user_id}/override", "setMfaOverride",
        "Require MFA of the user, or exempt them from it, until `until` (replaces an earlier "
        "override; the reason goes into the audit log).",
        WRITE, set_override, path_params=_USER_ID,
        body=obj(kind=_OVERRIDE["properties"]["kind"], until={**TIME, "minimum": 1},
                 reason={"type": "string", "minLength": 1, "maxLength": 500}),
        response=obj(override=_OVERRIDE),
    ),
    Operation(
        "DELETE", "/users/{user_id}/override", "clearMfaOverride",
        "Remove the user's MFA override: their roles' policy applies again.",
        WRITE, clear_override, path_params=_USER_ID, response=obj(cleared=BOOL),
    ),
]  # fmt: skip
