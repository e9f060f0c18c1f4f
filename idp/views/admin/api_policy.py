"""The admin API's MFA policy operations: the default and each role's policy, new roles, and
how recent a second factor must be for each sensitive operation.

A policy is written whole (every field; ``factors`` null allows any kind, new kinds included),
as the console's form saves it, through ``idp.accounts.policies`` (audited with before and
after). The console previews a change before saving it; a script that wants the effect first
reads the users it would cover. Windows go through ``idp.accounts.operation_windows``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp.accounts import operation_windows, policies, users
from idp.extensions import db
from idp.models import Role
from idp.policy.rules import FACTOR_KINDS, MODES, SENSITIVE_OPERATIONS, MfaPolicy
from idp.views.admin.api_support import (
    BOOL,
    INT,
    READ,
    STR,
    WRITE,
    Caller,
    not_found,
    obj,
    refused,
)  # fmt: skip
from idp.web.json_api import Operation, Problem


def get_policy(caller: Caller, query: dict, body: None) -> dict:
    default = policies.describe(policies.policy_of(policies.default_row()))
    roles = [_role(r) for r in db.session.execute(select(Role).order_by(Role.name)).scalars()]
    windows = [_window(w) for w in operation_windows.windows()]
    db.session.rollback()  # reading creates nothing (``default_row`` makes a missing row)
    return {"default": default, "roles": roles, "windows": windows}


def set_default_policy(caller: Caller, query: dict, body: dict) -> dict:
    before = policies.describe(policies.policy_of(policies.default_row()))
    policies.set_default_policy(_policy(body), actor=caller.actor)
    db.session.commit()
    return {
        "before": before,
        "after": policies.describe(policies.policy_of(policies.default_row())),
    }


def set_role_policy(caller: Caller, query: dict, body: dict, name: str) -> dict:
    role = _role_named(name)
    before = policies.describe(policies.policy_of(role))
    policies.set_role_policy(role, _policy(body), actor=caller.actor)
    db.session.commit()
    return {"before": before, "after": policies.describe(policies.policy_of(role))}


def create_role(caller: Caller, query: dict, body: dict) -> dict:
    if _exists(body["name"]):
        raise _duplicate(body["name"])
    try:
        role = users.create_role(body["name"], body.get("description", ""), actor=caller.actor)
        db.session.commit()
    except ValueError as error:
        db.session.rollback()
        raise refused(error) from None
    except IntegrityError:  # created meanwhile by another request
        db.session.rollback()
        raise _duplicate(body["name"]) from None
    return _role(role)


def set_window(caller: Caller, query: dict, body: dict, operation: str) -> dict:
    _known(operation)
    try:
        changed = operation_windows.set_window(operation, body["seconds"], actor=caller.actor)
    except ValueError as error:
        raise refused(error) from None
    db.session.commit()
    return {"window": _window_of(operation), "changed": changed}


def clear_window(caller: Caller, query: dict, body: None, operation: str) -> dict:
    _known(operation)
    changed = operation_windows.clear_window(operation, actor=caller.actor)
    db.session.commit()
    return {"window": _window_of(operation), "changed": changed}


def _policy(body: dict) -> MfaPolicy:
    factors = body["factors"]
    try:
        return MfaPolicy(**{**body, "factors": None if factors is None else frozenset(factors)})
    except ValueError as error:
        raise refused(error) from None


def _role_named(name: str) -> Role:
    try:
        return users.role(name)
    except LookupError as error:
        raise not_found(error) from None


def _exists(name: str) -> bool:
    return db.session.execute(select(Role.id).where(Role.name == name)).first() is not None


def _duplicate(name: str) -> Problem:
    return Problem(409, "conflict", f"a role named {name!r} exists")


def _known(operation: str) -> None:
    if operation not in SENSITIVE_OPERATIONS:
        raise not_found(f"no sensitive operation {operation!r}")


def _role(role: Role) -> dict:
    policy = policies.describe(policies.policy_of(role))
    return {"name": role.name, "description": role.description, "policy": policy}


def _window_of(operation: str) -> dict:
    return next(_window(w) for w in operation_windows.windows() if w.operation == operation)


def _window(found: operation_windows.Window) -> dict:
    return {"operation": found.operation, "seconds": found.seconds, "source": found.source,
            "configured": found.configured}  # fmt: skip


# -- the declarations ---------------------------------------------------------------------------
_POLICY = obj(
    mode={"type": "string", "enum": list(MODES)},
    factors={"type": ["array", "null"], "items": {"type": "string", "enum": list(FACTOR_KINDS)},
             "minItems": 1, "uniqueItems": True, "description": "null: any kind"},
    remember_device=BOOL,
    factor_max_age={"type": ["integer", "null"], "minimum": 1, "maximum": 10**8,
                    "description": "seconds; null: the second factor is asked only at sign-in"},
    grace_signins={"type": "integer", "minimum": 0, "maximum": 1000},
    grace_days={"type": "integer", "minimum": 0, "maximum": 3650},
    require_attested_passkeys=BOOL,
)  # fmt: skip
_CHANGE = obj(before=_POLICY, after=_POLICY)
_ROLE = obj(name=STR, description=STR, policy=_POLICY)
_OPERATION = {"operation": {"type": "string", "enum": list(SENSITIVE_OPERATIONS)}}
_WINDOW = obj(operation=STR, seconds=INT,
              source={"type": "string", "enum": ["console", "configuration"]},
              configured={**INT, "description": "what the configuration alone gives"})  # fmt: skip
_SET = {"window": _WINDOW, "changed": BOOL}
_SECONDS = {"type": "integer", "minimum": operation_windows.MIN_SECONDS,
            "maximum": operation_windows.MAX_SECONDS}  # fmt: skip

OPERATIONS = [
    Operation(
        "GET", "/policy", "getPolicy",
        "The default MFA policy, every role's, and each sensitive operation's window.",
        READ, get_policy,
        response=obj(default=_POLICY, roles={"type": "array", "items": _ROLE},
                     windows={"type": "array", "items": _WINDOW}),
    ),
    Operation(
        "PUT", "/policy/default", "setDefaultPolicy",
        "Replace the default policy every user gets (audited with before and after).",
        WRITE, set_default_policy, body=_POLICY, response=_CHANGE,
    ),
    Operation(
        "PUT", "/policy/roles/{name}", "setRolePolicy",
        "Replace a role's policy (audited with before and after).",
        WRITE, set_role_policy, path_params={"name": {"type": "string", "maxLength": 64}},
        body=_POLICY, response=_CHANGE,
    ),
    Operation(
        "POST", "/roles", "createRole", "Create a role (its policy starts off).",
        WRITE, create_role, status=201, response=_ROLE,
        body={**obj(name={"type": "string", "minLength": 1, "maxLength": 64},
                    description={"type": "string", "maxLength": 255}),
              "required": ["name"]},
        refusals={409: "A role of this name exists"},
    ),
    Operation(
        "PUT", "/policy/windows/{operation}", "setOperationWindow",
        "Set how recent a second factor must be for the operation; wins over the configuration "
        "until cleared.",
        WRITE, set_window, path_params=_OPERATION, body=obj(seconds=_SECONDS),
        response=obj(**_SET),
    ),
    Operation(
        "DELETE", "/policy/windows/{operation}", "clearOperationWindow",
        "Give the operation's window back to the configuration.",
        WRITE, clear_window, path_params=_OPERATION, response=obj(**_SET),
    ),
]  # fmt: skip
