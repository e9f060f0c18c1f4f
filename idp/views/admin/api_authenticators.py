"""The admin API's authenticator allow-list and the dashboard's figures.

The allow-list is the console's ``/admin/authenticators`` (twin of ``idp authenticators``): the
models whose attested passkeys are hardware keys for users whose policy requires attestation.
A model is named by its AAGUID in the path, so allowing is a ``PUT`` (doing it twice is doing it
once) and taking it off the list a ``DELETE``; both go through ``idp.factors.attestation``,
which audits them. Roots are given as PEM text and listed by SHA-256 fingerprint.
"""

from __future__ import annotations

from idp.accounts import admin_view
from idp.extensions import db
from idp.factors import attestation
from idp.views.admin.api_support import (
    BOOL,
    INT,
    NAMES,
    READ,
    STR,
    TIME,
    WRITE,
    Caller,
    not_found,
    obj,
    refused,
)
from idp.web.json_api import Operation


def list_models(caller: Caller, query: dict, body: None) -> dict:
    return {"models": [attestation.describe(row) for row in attestation.listed()]}


def allow_model(caller: Caller, query: dict, body: dict, aaguid: str) -> dict:
    try:
        pem = body.get("root_certificates", "").strip()
        row = attestation.allow(
            aaguid,
            description=body.get("description"),
            roots=attestation.pem_roots(pem.encode()) if pem else None,
            actor=caller.actor,
        )
    except ValueError as error:
        raise refused(error) from None
    db.session.commit()
    return attestation.describe(row)


def remove_model(caller: Caller, query: dict, body: None, aaguid: str) -> dict:
    try:
        removed = attestation.remove(aaguid, actor=caller.actor)
    except ValueError as error:
        raise not_found(str(error)) from None
    db.session.commit()
    return {"removed": removed}


def dashboard(caller: Caller, query: dict, body: None) -> dict:
    figures = admin_view.dashboard()
    return {
        "as_of": figures.as_of,
        "users": _share(figures.users),
        "per_role": {name: _share(s) for name, s in figures.per_role.items()},
        "per_kind": figures.per_kind,
        "sign_ins_day": figures.sign_ins_day,
        "sign_ins_month": figures.sign_ins_month,
    }


def _share(share: admin_view.Share) -> dict:
    return {"total": share.total, "enrolled": share.enrolled}


_AAGUID = {"aaguid": {"type": "string", "maxLength": 64}}
_MODEL = obj(aaguid=STR, description=STR, roots=NAMES, source=STR, allowed=BOOL)
_SHARE = obj(total=INT, enrolled=INT)
_COUNTS = {"type": "object", "additionalProperties": INT}

OPERATIONS = [
    Operation(
        "GET", "/authenticator-models", "listAuthenticatorModels",
        "Every known authenticator model, allowed ones first; roots by SHA-256 fingerprint.",
        READ, list_models, response=obj(models={"type": "array", "items": _MODEL}),
    ),
    Operation(
        "PUT", "/authenticator-models/{aaguid}", "allowAuthenticatorModel",
        "Allow a model: a new one needs a description and its root certificates (PEM); for a "
        "known one, what is given replaces what it had, and nothing given allows it again.",
        WRITE, allow_model, path_params=_AAGUID, response=_MODEL,
        body={"type": "object", "additionalProperties": False,
              "properties": {"description": {"type": "string", "maxLength": 500},
                             "root_certificates": {"type": "string", "maxLength": 65536,
                                                   "description": "PEM, one or more"}}},
    ),
    Operation(
        "DELETE", "/authenticator-models/{aaguid}", "removeAuthenticatorModel",
        "Take a model off the allow-list (kept as not allowed, so an import does not allow it "
        "again); `removed` is false when it was not allowed.",
        WRITE, remove_model, path_params=_AAGUID, response=obj(removed=BOOL),
    ),
    Operation(
        "GET", "/dashboard", "getDashboard",
        "The console dashboard's figures: users and their MFA enrolment (overall, per role, per "
        "method), sign-ins by outcome over 24 hours and 30 days; kept per process for "
        "IDP_ADMIN_DASHBOARD_TTL seconds (as_of says when they were counted).",
        READ, dashboard,
        response=obj(as_of=TIME, users=_SHARE,
                     per_role={"type": "object", "additionalProperties": _SHARE},
                     per_kind=_COUNTS, sign_ins_day=_COUNTS, sign_ins_month=_COUNTS),
    ),
]  # fmt: skip
