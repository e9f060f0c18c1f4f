"""The durable floor for ``durable_floor.py``: the floor plus only the writes the issue requires.

The floor (``floor_app.py``) checks a client secret and signs a JWT, and writes nothing. A token
response of the provider must also be durable: its ``jti`` recorded (so revocation and
introspection can answer), the refresh token rotated (a conditional UPDATE, so a replay is
caught), and a hash-chained audit row appended, all in one transaction. This app answers exactly
as the floor does (it calls ``floor_app.token``) and then makes those writes as cheaply as Python
can: the stdlib ``sqlite3`` driver on a connection kept open per worker, one ``BEGIN IMMEDIATE``
transaction of plain statements, no framework. So it prices the writes on their own: whatever
the provider spends above this is Flask, Authlib and the provider's code, not the database.

Configured as ``floor_app`` (``FLOOR_*``), plus ``DURABLE_DATABASE`` (path of an SQLite file
migrated by ``idp db upgrade``, with the client ``FLOOR_CLIENT_ID`` in it), ``DURABLE_USER_ID``
(a user's row id, for refresh tokens) and ``DURABLE_GRANT``: ``client_credentials`` (token row and
audit row) or ``refresh_token`` (also rotates this worker's previous refresh token first, reads
the user's ``sub`` as the provider does, and records a successor in the same family).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sqlite3
import time

import floor_app
from flask import Flask, request

DATABASE = os.environ["DURABLE_DATABASE"]
USER_ID = int(os.environ.get("DURABLE_USER_ID", "0"))
GRANT = os.environ.get("DURABLE_GRANT", "client_credentials")
FAMILY_TTL = 30 * 24 * 3600
GENESIS = "0" * 64

#: The columns the provider writes (``idp.oauth2.tokens._COLUMNS``), through migration 0013.
_TOKEN_COLUMNS = (
    "jti, client_id, user_id, scope, grant_type, issued_at, access_expires_at, acr, amr, "
    "auth_time, sid, code_id, refresh_digest, refresh_scope, family, family_expires_at, "
    "rotated_from"
)
INSERT_TOKEN = f"INSERT INTO tokens ({_TOKEN_COLUMNS}) VALUES ({', '.join('?' * 17)})"
#: A successor continues its predecessor's family and scope and records which token it replaced.
ROTATE = (
    "UPDATE tokens SET rotated_at = ? WHERE refresh_digest = ? AND client_id = ? "
    "AND rotated_at IS NULL AND revoked_at IS NULL AND family_expires_at > ? "
    "RETURNING id, user_id, family, family_expires_at, refresh_scope"
)
SUBJECT = "SELECT sub FROM users WHERE id = ?"
LAST_HASH = "SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1"
APPEND = (
    "INSERT INTO audit_events (at, event, outcome, actor, subject, client_id, ip, user_agent, "
    "request_id, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

app = Flask(__name__)
_worker: dict = {"connection": None, "refresh_digest": None}  # per gunicorn worker (process)


def _connection() -> sqlite3.Connection:
    """One connection per worker, opened at its first request, as the provider's pool does."""
    if _worker["connection"] is None:
        connection = sqlite3.connect(DATABASE, timeout=15, isolation_level=None)
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        _worker["connection"] = connection
    return _worker["connection"]


@app.post("/token")
def token():
    response = floor_app.token()
    if response.status_code == 200:
        access_token = response.get_json()["access_token"]
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        _record(claims)
    return response


def _record(claims: dict) -> None:
    """The token response's writes, in one transaction."""
    db = _connection()
    db.execute("BEGIN IMMEDIATE")
    try:
        user_id = subject = refresh_digest = refresh_scope = family = family_expires = None
        rotated_from = None
        if GRANT == "refresh_token":
            rotated_from, user_id, family, family_expires, refresh_scope = _rotate(db, claims)
            subject = db.execute(SUBJECT, (user_id,)).fetchone()[0]
            refresh_digest = hashlib.sha256(secrets.token_urlsafe(32).encode()).hexdigest()
        row = (
            claims["jti"], claims["client_id"], user_id, claims["scope"], GRANT, claims["iat"],
            claims["exp"], "", "[]", None, None, None, refresh_digest, refresh_scope, family,
            family_expires, rotated_from,
        )  # fmt: skip
        db.execute(INSERT_TOKEN, row)
        _append_audit(db, claims, subject, refresh=refresh_digest is not None)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    _worker["refresh_digest"] = refresh_digest


def _rotate(db: sqlite3.Connection, claims: dict) -> tuple[int | None, int, str, int, str]:
    """Rotate this worker's previous refresh token: its id (the successor's ``rotated_from``),
    user, family, family expiry and refresh scope. The first request starts a family."""
    previous, at = _worker["refresh_digest"], claims["iat"]
    if previous is not None:
        rotated = db.execute(ROTATE, (at, previous, floor_app.CLIENT_ID, at)).fetchone()
        if rotated is None:
            raise RuntimeError("the previous refresh token was not rotated")
        return rotated
    return None, USER_ID, secrets.token_urlsafe(16), at + FAMILY_TTL, claims["scope"]


def _append_audit(db: sqlite3.Connection, claims: dict, subject: str | None, refresh: bool):
    """The ``token_issued`` row, chained to the last row as ``idp.audit`` chains it."""
    last = db.execute(LAST_HASH).fetchone()
    fields = {
        "at": int(time.time()),
        "event": "token_issued",
        "outcome": "success",
        "actor": None,
        "subject": subject,
        "client_id": claims["client_id"],
        "ip": request.remote_addr,
        "user_agent": request.headers.get("User-Agent", "")[:512],
        "request_id": secrets.token_urlsafe(12),
        "detail": {"grant_type": GRANT, "jti": claims["jti"], "refresh": refresh},
    }
    prev_hash = last[0] if last else GENESIS
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    chained = hashlib.sha256((prev_hash + body).encode()).hexdigest()
    values = [*fields.values()]
    values[-1] = json.dumps(values[-1])
    db.execute(APPEND, (*values, prev_hash, chained))
