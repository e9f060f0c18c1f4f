"""The JSON calls of a WebAuthn ceremony (``static/passkeys.js``): options, then the answer.

Each call is protected by the CSRF token in the ``X-CSRFToken`` header. A refusal is a status
with ``{"error": message}`` for the page to show; a rate limit or an expired form is refused
the same way, so the script never has to read an HTML error page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_wtf.csrf import CSRFError

from idp.extensions import db
from idp.models.rate_limits import RateLimited

#: A ceremony's call is a few kilobytes (options, or an attestation with its certificates).
MAX_BODY = 64 * 1024


def refuse(message: str, status: int = 400, **extra: Any):
    return jsonify(error=message, **extra), status


def body() -> dict:
    """The call's JSON object; anything else, or one with a NUL character anywhere (no value of
    a ceremony has a use for one, and PostgreSQL text cannot hold it), reads as empty."""
    raw = request.get_data()
    if len(raw) > MAX_BODY or b"\\u0000" in raw:
        return {}
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: not a ceremony's answer
        return {}
    return data if isinstance(data, dict) else {}


def answer_in_json(bp: Blueprint) -> None:
    """Refuse a rate-limited or CSRF-failed call of ``bp`` in JSON, like any other refusal."""
    bp.register_error_handler(RateLimited, _rate_limited)
    bp.register_error_handler(CSRFError, _csrf_error)


def _rate_limited(error: RateLimited):
    db.session.commit()  # the hit that crossed the limit counts too
    return refuse(str(error), 429, retry_after=error.retry_after)


def _csrf_error(error: CSRFError):
    return refuse("This page has expired. Reload it and try again.")
