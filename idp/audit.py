"""The audit log: ``record()`` appends an event in the caller's transaction, hash-chained and keyed.

Each row stores an HMAC-SHA256, under a key derived from the encryption key ring (named by the
row's ``mac_kid``), of the previous row's hash and its own fields: someone with only database
access can edit or delete rows but cannot compute a consistent chain. Rows written before the
keyed chain (before ``audit_chain.keyed_from``, migration 0019) keep their unkeyed SHA-256 hash;
the first keyed row's MAC covers the last of them, so they stay verifiable.

A cut-off tail leaves an intact chain, so the head is checkpointed: a JWS of (seq, hash, at),
signed with the token signing key, stored in ``audit_checkpoints`` and exportable to a file kept
elsewhere. ``record()`` writes one when the newest is older than ``IDP_AUDIT_CHECKPOINT_INTERVAL``
(read once per process, then once per interval), ``idp audit checkpoint`` on demand.
``verify()`` walks the chain and the checkpoints and names the first problem: a row edited, a
row re-chained without the key, a broken link, a tail deleted after the last row.

Nothing in the code updates or deletes audit rows, and triggers refuse it (migration 0001).
Never pass a secret in ``detail``: the log is read by admins and shipped to SIEMs.

With ``IDP_AUDIT_STREAM`` (``stdout``, ``stderr`` or a file path) each row is also written as
one JSON line, the fields of the row and its ``seq``, once its transaction has committed
(``statements.after_commit``): a SIEM never sees an event the database rolled back. A line
lost to a crash between the commit and the write is still in the table (and its chain).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from logging.handlers import WatchedFileHandler
from types import SimpleNamespace
from typing import Protocol

from flask import current_app, g, has_request_context, request
from sqlalchemy import func, select

from idp.clock import now
from idp.extensions import db
from idp.models.audit import AuditChain, AuditCheckpoint, AuditEvent
from idp.models.statements import (
    DriverStatement,
    after_commit,
    strict_insert,
    transaction_dialect,
)
from idp.models.user import User

GENESIS = "0" * 64
_CHAIN_LOCK = 0x1D9A0D17  # one advisory lock id serialises appends on PostgreSQL
# Run on the driver's cursor: every token response appends a row.
_LOCK_CHAIN = DriverStatement(select(func.pg_advisory_xact_lock(_CHAIN_LOCK)))
_LAST = DriverStatement(
    select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
)
_INSERT = strict_insert(
    AuditEvent.__table__, (*AuditEvent.CHAINED_FIELDS, "prev_hash", "hash", "mac_kid")
)
_APPEND = DriverStatement(_INSERT)
_APPEND_STREAMED = DriverStatement(_INSERT.returning(AuditEvent.seq))  # the line names its seq
_LAST_CHECKPOINT_AT = DriverStatement(select(func.max(AuditCheckpoint.at)))
_KEYED_FROM = DriverStatement(select(AuditChain.keyed_from).where(AuditChain.id == 1))
_CHECKPOINT = DriverStatement(
    strict_insert(AuditCheckpoint.__table__, ("seq", "hash", "at", "signature"))
)


class ChainKeys(Protocol):
    """The keys the chain needs (``idp.keys.audit_keys.AuditKeys``, given by the app factory)."""

    def mac_key(self, kid: str | None = None) -> tuple[str, bytes] | None: ...

    def sign(self, claims: dict) -> str: ...

    def verify(self, token: str) -> dict:
        """The claims of a genuine checkpoint; ValueError otherwise."""


@dataclass
class _State:
    keys: ChainKeys
    interval: int
    stream: logging.Handler | None = None  # IDP_AUDIT_STREAM's, if set
    next_checkpoint: int | None = None  # epoch seconds; None: not read yet in this process


def init_app(app, keys: ChainKeys) -> None:
    stream = _stream(app.config["AUDIT_STREAM"])
    app.extensions["idp.audit"] = _State(keys, app.config["AUDIT_CHECKPOINT_INTERVAL"], stream)


def _stream(target: str) -> logging.Handler | None:
    """Where committed events are written as JSON lines: standard output, a file (reopened
    when log rotation moves it), or nowhere. A logging handler: it serialises writes between
    threads and reports a failed write on stderr instead of failing the request."""
    if not target:
        return None
    if target in ("stdout", "stderr"):
        handler: logging.Handler = logging.StreamHandler(getattr(sys, target))
    else:
        handler = WatchedFileHandler(target, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def _state() -> _State:
    return current_app.extensions["idp.audit"]


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
    request, and skipping the unit of work keeps this cheap on the token endpoint's hot path
    (the lock, one read of the head, one insert; a checkpoint once an interval).
    """
    state = _state()
    _serialise_appends()
    last = _LAST.first()
    kid, key = state.keys.mac_key()
    fields = {
        "at": now(),
        "event": event,
        "outcome": outcome,
        "actor": actor,
        "subject": subject,
        "client_id": client_id,
        "detail": detail,
        "prev_hash": last[1] if last else GENESIS,
        "mac_kid": kid,
        **_request_fields(),
    }
    fields["hash"] = chain_hash(SimpleNamespace(**fields), key)
    if state.stream is None:
        _APPEND.execute(**fields)
    else:
        seq = _APPEND_STREAMED.first(**fields)[0]
        line = json.dumps({"seq": seq, **fields}, sort_keys=True, default=str)
        after_commit(partial(state.stream.handle, logging.makeLogRecord({"msg": line})))
    if last is not None and state.interval > 0:
        _checkpoint_if_due(state, last, fields["at"])


def subject_of(user_id: int | None) -> str | None:
    """The audit ``subject`` of a user id: the user's stable ``sub``, never the row id."""
    user = db.session.get(User, user_id) if user_id is not None else None
    return user.sub if user else None


def chain_hash(row: AuditEvent | SimpleNamespace, key: bytes | None = None) -> str:
    """HMAC-SHA256 under ``key`` (SHA-256 for a legacy row: no key) over the previous hash and
    this row's fields in a canonical JSON form."""
    fields = {name: getattr(row, name) for name in AuditEvent.CHAINED_FIELDS}
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    data = (row.prev_hash + body).encode()
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


# --- checkpoints ---------------------------------------------------------------------------


def _checkpoint_if_due(state: _State, head: tuple, at: int) -> None:
    """Checkpoint ``head`` (the row before this one) once the newest checkpoint is an interval
    old; the newest is read under the chain lock, once per process and then once an interval."""
    if state.next_checkpoint is not None and at < state.next_checkpoint:
        return
    latest = _LAST_CHECKPOINT_AT.first()[0]
    if latest is not None and at - latest < state.interval:
        state.next_checkpoint = latest + state.interval
        return
    _write_checkpoint(state, head[0], head[1], at)
    state.next_checkpoint = at + state.interval


def _write_checkpoint(state: _State, seq: int, hash_: str, at: int) -> dict:
    keyed_from = _KEYED_FROM.first()
    claims = {
        "iss": current_app.config["ISSUER"],
        "seq": seq,
        "hash": hash_,
        "at": at,
        "keyed_from": keyed_from[0] if keyed_from else 1,
    }
    signature = state.keys.sign(claims)
    _CHECKPOINT.execute(seq=seq, hash=hash_, at=at, signature=signature)
    return {**claims, "signature": signature}


def checkpoint() -> dict | None:
    """Checkpoint the newest row now (the caller commits); None when the log is empty."""
    _serialise_appends()
    head = _LAST.first()
    if head is None:
        return None
    return _write_checkpoint(_state(), head[0], head[1], now())


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """Result of ``verify``: rows checked; the first problem and the row it names, if any."""

    checked: int
    first_broken: int | None = None
    reason: str = ""
    checkpoints: int = 0

    @property
    def intact(self) -> bool:
        return not self.reason


@dataclass
class _Walk:
    keys: ChainKeys
    keyed_from: int
    checked: int = 0
    last: AuditEvent | None = None
    hashes: dict[int, str] = field(default_factory=dict)  # of the rows checkpoints name


def verify(exported: Iterable[str] = ()) -> ChainReport:
    """Walk the chain in order, then hold it against every checkpoint (stored and ``exported``
    JWS); report the first problem."""
    keys = _state().keys
    try:
        claims = [keys.verify(token) for token in (*_stored_checkpoints(), *exported)]
    except ValueError as exc:  # idp.keys' CheckpointSignatureError, a ValueError
        return ChainReport(0, None, f"a checkpoint is not genuine: {exc}")
    chain = db.session.get(AuditChain, 1)
    walk = _Walk(keys, chain.keyed_from if chain else 1)
    wanted = {c["seq"] for c in claims}
    cut_over = {c["keyed_from"] for c in claims} - {walk.keyed_from}
    if cut_over:
        return ChainReport(
            0, None, f"the recorded cut-over (seq {walk.keyed_from}) differs from a "
            f"checkpoint's (seq {min(cut_over)}): rows were re-chained without the key",
        )  # fmt: skip
    rows = db.session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()
    broken = _walk_rows(walk, iter(rows), wanted)
    if broken:
        return ChainReport(walk.checked, *broken, checkpoints=len(claims))
    for claim in sorted(claims, key=lambda c: c["seq"]):
        problem = _against_checkpoint(walk, claim)
        if problem:
            return ChainReport(walk.checked, *problem, checkpoints=len(claims))
    return ChainReport(walk.checked, checkpoints=len(claims))


def _stored_checkpoints() -> list[str]:
    return list(db.session.execute(select(AuditCheckpoint.signature)).scalars())


def _walk_rows(walk: _Walk, rows: Iterator[AuditEvent], wanted: set) -> tuple | None:
    expected_prev = GENESIS
    for row in rows:
        walk.checked += 1
        if row.prev_hash != expected_prev:
            return row.seq, f"row {row.seq}: previous hash does not match the row before"
        problem = _row_problem(walk, row)
        if problem:
            return row.seq, _classify(walk, row, next(rows, None), problem)
        if row.seq in wanted:
            walk.hashes[row.seq] = row.hash
        expected_prev, walk.last = row.hash, row
    return None


def _row_problem(walk: _Walk, row: AuditEvent) -> str | None:
    """Why ``row``'s own hash is wrong: None if it is right."""
    if row.seq < walk.keyed_from:
        return None if chain_hash(row) == row.hash else "content"
    if row.mac_kid is None:
        return "unkeyed"
    found = walk.keys.mac_key(row.mac_kid)
    if found is None:
        return "unknown key"
    return None if hmac.compare_digest(chain_hash(row, found[1]), row.hash) else "content"


def _classify(walk: _Walk, row: AuditEvent, following: AuditEvent | None, problem: str) -> str:
    """A row whose hash is wrong: edited after it was written (the next row, genuine, still
    points at its hash), or its hash recomputed without the key (the next row points elsewhere,
    or was re-chained onto it and fails its own check)."""
    if problem == "unkeyed":
        return (
            f"row {row.seq}'s hash does not match the key (re-chained without the key): "
            f"it is unkeyed, but rows from {walk.keyed_from} on are keyed"
        )
    if problem == "unknown key":
        return f"row {row.seq} names key {row.mac_kid!r}, which is not in the key ring"
    genuine_hash = (
        following is None  # the last row: nothing tells; its content does not match
        or (following.prev_hash == row.hash and _row_problem(walk, following) is None)
    )
    if not genuine_hash:
        return f"row {row.seq}'s hash does not match the key (re-chained without the key)"
    return f"row {row.seq} edited: its content does not match its hash"


def _against_checkpoint(walk: _Walk, claim: dict) -> tuple | None:
    seq, when = claim["seq"], _iso(claim["at"])
    last_seq = walk.last.seq if walk.last else 0
    if seq > last_seq:
        return (
            last_seq,
            f"tail deleted after seq {last_seq}: the checkpoint of {when} has seq {seq}",
        )
    if seq not in walk.hashes:
        return seq, f"row {seq} deleted: the checkpoint of {when} names it"
    if walk.hashes[seq] != claim["hash"]:
        return seq, f"row {seq} does not match the checkpoint of {when}: rows were replaced"
    return None


def _iso(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
