"""The admin API's recovery operations: the open requests, one request, and denying one.

Approving is not offered here, on purpose. The two-person rule (``idp.accounts.recovery``)
binds two different people who each checked the user's identity through a channel they trust
and recorded how; a client-credentials token names a client, not a person, so an approval made
with it could not say who checked, nor keep one person from being both approvers (two scripts,
one operator). Approvals are given in the console, by admins signed in with a second factor.
Denying stops a request and is safe for a script to do; it goes through ``recovery.deny``, as
the console's, and the user is told by mail.
"""

from __future__ import annotations

from idp.accounts import recovery
from idp.extensions import db
from idp.models import RecoveryRequest, User
from idp.views.admin.api_support import (
    INT,
    OPT_STR,
    OPT_TIME,
    READ,
    STR,
    TIME,
    WRITE,
    Caller,
    not_found,
    obj,
)  # fmt: skip
from idp.web.json_api import Operation, Problem


def list_requests(caller: Caller, query: dict, body: None) -> dict:
    rows = recovery.listed()
    db.session.commit()  # requests past their deadline were expired (audited)
    return {"requests": [_request(row, user) for row, user in rows]}


def get_request(caller: Caller, query: dict, body: None, request_id: int) -> dict:
    row = _row(request_id)
    return _request(row, db.session.get(User, row.user_id))


def deny_request(caller: Caller, query: dict, body: dict, request_id: int) -> dict:
    row = _row(request_id)
    try:
        recovery.deny(row, None, body["note"], actor=caller.actor)
    except recovery.RecoveryRefused as refusal:
        db.session.commit()  # an expiry found on the way stays recorded
        raise Problem(refusal.status, "conflict", str(refusal)) from None
    db.session.commit()
    recovery.send_denial(row)
    return _request(row, db.session.get(User, row.user_id))


def _row(request_id: int) -> RecoveryRequest:
    row = db.session.get(RecoveryRequest, request_id)
    if row is None:
        raise not_found("no recovery request has this id")
    return row


def _request(row: RecoveryRequest, user: User) -> dict:
    approver = db.session.get(User, row.first_approver_id) if row.first_approver_id else None
    return {
        "id": row.id, "status": row.status,
        "user": {"id": user.id, "sub": user.sub, "email": user.email},
        "requested_at": row.requested_at, "expires_at": row.expires_at,
        "first_approver": approver.email if approver else None,
        "first_approved_at": row.first_approved_at, "first_note": row.first_note,
        "decision_note": row.decision_note, "finished_at": row.finished_at,
        "link_opened_at": row.link_opened_at,
    }  # fmt: skip


_REQUEST = obj(
    id=INT, status=STR, user=obj(id=INT, sub=STR, email=STR), requested_at=TIME,
    expires_at={**TIME, "description": "the request's deadline, then the mailed link's"},
    first_approver=OPT_STR, first_approved_at=OPT_TIME, first_note=OPT_STR,
    decision_note=OPT_STR, finished_at=OPT_TIME, link_opened_at=OPT_TIME,
)  # fmt: skip
_ID = {"request_id": {"type": "integer", "minimum": 1}}

OPERATIONS = [
    Operation(
        "GET", "/recovery-requests", "listRecoveryRequests",
        "Every open recovery request, oldest first (at most one per user, so not paged). "
        "Approving is only offered in the console: the two-person rule binds two people who "
        "each checked the user's identity, and a client token names no person.",
        READ, list_requests, response=obj(requests={"type": "array", "items": _REQUEST}),
    ),
    Operation(
        "GET", "/recovery-requests/{request_id}", "getRecoveryRequest",
        "One recovery request, open or finished, with its approvals and notes.",
        READ, get_request, path_params=_ID, response=_REQUEST,
    ),
    Operation(
        "POST", "/recovery-requests/{request_id}/deny", "denyRecoveryRequest",
        "Deny an open request, with a note (the user is told by mail). There is no approve: "
        "see listRecoveryRequests.",
        WRITE, deny_request, path_params=_ID,
        body=obj(note={"type": "string", "pattern": r"\S", "maxLength": 1000,
                      "description": "how the request was checked; not blank"}),
        response=_REQUEST, refusals={409: "The request is no longer waiting for a decision"},
    ),
]  # fmt: skip
