"""The admin API's audit operations: the events, filtered and paged by key (as the console's
audit page), and the check of the hash chain that ``idp audit verify`` runs (``audit.verify``)."""

from __future__ import annotations

from idp import audit
from idp.accounts import audit_log
from idp.views.admin.api_support import INT, MAX_PAGE, READ, STR, Caller, obj
from idp.web.json_api import Operation, Problem


def list_audit_events(caller: Caller, query: dict, body: None) -> dict:
    filters = audit_log.Filters(**{k: v for k, v in query.items() if k in _FILTERS})
    try:
        page = audit_log.page(filters, before=query.get("before"), limit=query.get("limit", 50))
    except audit_log.FilterError as error:
        raise Problem(400, "invalid_request", str(error)) from None
    return {"events": [audit_log.as_dict(r) for r in page.rows], "next_before": page.next_before}


def verify_chain(caller: Caller, query: dict, body: None) -> dict:
    """The stored chain against the stored checkpoints; a broken chain is a finding, not an
    error of the request, so it is a 200 whose ``intact`` is false."""
    report = audit.verify()
    return {"intact": report.intact, "checked": report.checked,
            "first_broken": report.first_broken, "reason": report.reason or None,
            "checkpoints": report.checkpoints}  # fmt: skip


_NULLABLE = {"type": ["string", "null"]}
_DAY = {"type": "string", "format": "date", "description": "YYYY-MM-DD, UTC, included"}
_FILTERS = {
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
        "seq": INT, "at": {"type": "integer", "description": "seconds since 1970-01-01 UTC"},
        "event": STR, "outcome": STR, "actor": _NULLABLE, "subject": _NULLABLE,
        "client_id": _NULLABLE, "ip": _NULLABLE, "user_agent": _NULLABLE,
        "request_id": _NULLABLE, "detail": {"type": "object"}, "prev_hash": STR, "hash": STR,
        "mac_kid": _NULLABLE,
    },
    "required": ["seq", "at", "event", "outcome", "detail", "prev_hash", "hash"],
    "additionalProperties": False,
}  # fmt: skip

OPERATIONS = [
    Operation(
        "GET", "/audit-events", "listAuditEvents",
        "Audit events newest first, filtered; pass next_before as before for the next page.",
        READ, list_audit_events,
        response=obj(events={"type": "array", "items": _EVENT},
                     next_before={"type": ["integer", "null"]}),
        query={**_FILTERS, "before": {"type": "integer", "minimum": 1},
               "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
    ),
    Operation(
        "GET", "/audit-chain/verify", "verifyAuditChain",
        "Check the whole audit chain (each row's keyed hash and link) against every stored "
        "checkpoint, as `idp audit verify` does; names the first problem and its row.",
        READ, verify_chain,
        response=obj(intact={"type": "boolean"}, checked=INT,
                     first_broken={"type": ["integer", "null"]}, reason=_NULLABLE,
                     checkpoints=INT),
    ),
]  # fmt: skip
