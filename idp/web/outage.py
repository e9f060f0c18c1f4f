"""When the database is down, full or read-only: a 503 with ``Retry-After``, never a 500.

Pages get a friendly 503; the protocol endpoints' machine clients get a JSON error in the same
status (``idp.views.oauth``). One outage fails every request the same way, so its traceback is
logged once per ``LOG_INTERVAL`` seconds and each further failure as one line.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from contextlib import suppress

import psycopg
from flask import Flask, Response, g, jsonify, render_template
from sqlalchemy.exc import InternalError, OperationalError, SQLAlchemyError

from idp.extensions import db

log = logging.getLogger(__name__)

#: What a database that cannot be reached, is full, or is read-only raises: connection refused,
#: "database or disk is full", "attempt to write a readonly database" (SQLite), DiskFull and
#: ReadOnlySqlTransaction (PostgreSQL). SQLAlchemy wraps the drivers' errors; the token
#: endpoint's statements run on the driver (``idp.models.statements``), which raises them bare.
DATABASE_UNAVAILABLE = (
    OperationalError,
    InternalError,
    sqlite3.OperationalError,
    psycopg.OperationalError,
    psycopg.InternalError,
)
RETRY_AFTER = 5
LOG_INTERVAL = 60.0
_last_logged: dict[str, float] = {}


def init_app(app: Flask) -> None:
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, page)


def page(error: Exception):
    """The friendly 503 of the hosted pages."""
    _noted(error)
    body = render_template(
        "error.html",
        title="Temporarily unavailable",
        description="We cannot complete this just now. Please try again in a moment.",
    )
    return body, 503, {"Retry-After": str(RETRY_AFTER)}


def replace(response: Response, error: Exception) -> None:
    """Turn a response into the friendly 503 when the database failed after its view ran (the
    browser's session is saved after the view: ``idp.web.session_store``)."""
    body, status, headers = page(error)
    response.set_data(body)
    response.status_code = status
    response.headers.pop("Location", None)
    response.headers.update(headers)
    response.mimetype = "text/html"


def json_error(error: Exception):
    """The protocol endpoints' 503: a JSON error a machine client can act on (retry later)."""
    _noted(error)
    body = jsonify(
        error="temporarily_unavailable",
        error_description="The service is temporarily unavailable. Retry later.",
    )
    return body, 503, {"Retry-After": str(RETRY_AFTER)}


def _noted(error: Exception) -> None:
    """Roll back what can be, and log the outage: whole once per interval, else one line."""
    with suppress(SQLAlchemyError):  # the connection may be gone: the session ends anyway
        db.session.rollback()
    kind = f"{type(error).__name__}: {type(getattr(error, 'orig', error)).__name__}"
    request_id = getattr(g, "request_id", "-")
    if time.monotonic() - _last_logged.get(kind, -LOG_INTERVAL) >= LOG_INTERVAL:
        _last_logged[kind] = time.monotonic()
        log.error("database unavailable (request %s)", request_id, exc_info=error)
    else:
        log.warning("database unavailable (request %s): %s, as logged before", request_id, kind)
