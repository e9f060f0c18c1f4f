"""The audit log: ``record()`` appends an event in the caller's transaction, hash-chained.

Each row stores the SHA-256 of the previous row's hash and its own fields, so editing or deleting
a row breaks the chain at the next row; ``verify()`` names the first broken row. The chain alone
cannot show that the newest rows were cut off, or that someone with write access rewrote it all:
export the last hash elsewhere (a SIEM) for that. Nothing in the code updates or deletes audit
rows, and triggers refuse it (migration 0001). Never pass a secret in ``detail``: the log is read
by admins and shipped to SIEMs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from types import SimpleNamespace

from flask import g, has_request_context, request
from sqlalchemy import func, select

from idp.clock import now
from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.statements import DriverStatement, strict_insert, transaction_dialect
from idp.models.user import User

GENESIS = "0" * 64
_CHAIN_LOCK = 0x1D9A0D17  # one advisory lock id serialises appends on PostgreSQL
# Run on the driver's cursor: every token response appends a row.
_LOCK_CHAIN = DriverStatement(select(func.pg_advisory_xact_lock(_CHAIN_LOCK)))
_LAST_HASH = DriverStatement(select(AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))
_APPEND = DriverStatement(
    strict_insert(AuditEvent.__table__, (*AuditEvent.CHAINED_FIELDS, "prev_hash", "hash"))
)


def record(
    event: str,
    *,
    outcome: str = "success",
    actor: str | None = None,
    subject: str | None = None,
    client_id: str | None = None,
    **detail: object,
) -> None:
    """Append an event to the caller's transaction; the caller commits.

    Plain statements rather than an ORM object: the audit row is never read back in the
    request, and skipping the unit of work keeps this cheap on the token endpoint's hot path.
    """
    _serialise_appends()
    last = _LAST_HASH.first()
    fields = {
        "at": now(),
        "event": event,
        "outcome": outcome,
        "actor": actor,
        "subject": subject,
        "client_id": client_id,
        "detail": detail,
        "prev_hash": last[0] if last else GENESIS,
        **_request_fields(),
    }
    fields["hash"] = chain_hash(SimpleNamespace(**fields))
    _APPEND.execute(**fields)


def subject_of(user_id: int | None) -> str | None:
    """The audit ``subject`` of a user id: the user's stable ``sub``, never the row id."""
    user = db.session.get(User, user_id) if user_id is not None else None
    return user.sub if user else None


def chain_hash(row: AuditEvent | SimpleNamespace) -> str:
    """SHA-256 over the previous hash and this row's fields in a canonical JSON form."""
    fields = {name: getattr(row, name) for name in AuditEvent.CHAINED_FIELDS}
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((row.prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """Result of ``verify``: rows checked and the first broken row's seq, if any."""

    checked: int
    first_broken: int | None
    reason: str = ""


def verify() -> ChainReport:
    """Walk the whole chain in order and report the first row that does not fit."""
    expected_prev = GENESIS
    checked = 0
    for row in db.session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
        checked += 1
        if row.prev_hash != expected_prev:
            return ChainReport(checked, row.seq, "previous hash does not match the row before")
        if chain_hash(row) != row.hash:
            return ChainReport(checked, row.seq, "row content does not match its hash")
        expected_prev = row.hash
    return ChainReport(checked, None)


def _serialise_appends() -> None:
    """Two concurrent appends must not both chain to the same previous row (on SQLite the
    transaction already holds the write lock: it began with BEGIN IMMEDIATE)."""
    if transaction_dialect().name == "postgresql":
        _LOCK_CHAIN.first()


def _request_fields() -> dict:
    if not has_request_context():
        return {"ip": None, "user_agent": None, "request_id": None}
    return {
        "ip": request.remote_addr,
        "user_agent": request.headers.get("User-Agent", "")[:512],
        "request_id": getattr(g, "request_id", None),
    }
