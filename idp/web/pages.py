"""Cross-cutting HTTP concerns: request ids, security headers, and the friendly error pages.

Every response gets the headers the issue lists (CSP with ``frame-ancestors 'none'``, X-Frame-
Options DENY, a strict Referrer-Policy, nosniff) and ``Cache-Control: no-store`` unless a view
chose a cache policy itself (discovery, JWKS, static files). 5xx pages never show detail.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from flask import Flask, g, render_template, request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.routing import IntegerConverter

from idp import random_tokens
from idp.extensions import db
from idp.models.rate_limits import RateLimited
from idp.web.session_store import ServerSideSessionInterface

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a row id, so at most 2**31 - 1 (PostgreSQL's ``integer``).
    A larger number is a 404 like any unknown id, not an overflow in the database driver."""

    def __init__(
        self,
        url_map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = 2**31 - 1,
        signed: bool = False,
    ) -> None:
        super().__init__(url_map, fixed_digits, min, max, signed)


class MalformedInput(BadRequest):
    """A NUL character in a parameter, form field or header, or a form field with no name:
    refused before CSRF protection or any view reads the request.

    PostgreSQL text cannot hold one (the same input would be stored on SQLite and fail on
    PostgreSQL), and no parameter, field or header of ours has a use for it. The protocol
    endpoints answer it in their own format (``idp.views.oauth``)."""

    description = "The request contains a character that is not allowed. Go back and try again."


def init_app(app: Flask) -> None:
    """Before any blueprint is registered: the routes' ``int`` converter is ``RowIdConverter``."""
    app.url_map.converters["int"] = RowIdConverter
    app.session_interface = ServerSideSessionInterface()
    app.add_template_filter(_utc, "utc")
    app.before_request(_assign_request_id)
    app.before_request(_refuse_nul)
    app.after_request(_security_headers)
    app.after_request(_see_other_after_post)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(RateLimited, _rate_limited)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)


def _utc(timestamp: int | None) -> str:
    """Epoch seconds as a readable UTC time for the pages."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _refuse_nul() -> None:
    pairs = [*request.headers.items(), *request.args.items(multi=True)]
    if request.method == "POST" and request.mimetype != "application/json":
        pairs += request.form.items(multi=True)
    if any(name is None or "\x00" in name or "\x00" in value for name, value in pairs):
        raise MalformedInput()


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else random_tokens.token(12)


def _security_headers(response):
    """Add each header the view did not set itself.

    One pass over the names already present: ``Headers.setdefault`` rescans the whole list for
    every header, a cost every response (the token endpoint's too) would pay.
    """
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    missing = [(name, value) for name, value in _SECURITY_HEADERS if name.lower() not in present]
    if "cache-control" not in present and not request.path.startswith("/static/"):
        missing += _NO_STORE
    headers.extend(missing)
    if getattr(g, "request_id", None):
        headers["X-Request-ID"] = g.request_id
    return response


def _see_other_after_post(response):
    """A POST answered with a redirect uses 303, so the browser follows it with GET."""
    if request.method == "POST" and response.status_code == 302:
        response.status_code = 303
    return response


def _rate_limited(error: RateLimited):
    db.session.commit()  # the hit that crossed the limit counts too
    body = render_template("error.html", title="Please wait", description=str(error))
    return body, 429, {"Retry-After": str(error.retry_after)}


def _csrf_error(error: CSRFError):
    body = render_template(
        "error.html",
        title="This form has expired",
        description="For your security the form could not be accepted. Go back, reload the "
        "page and try again.",
    )
    return body, 400


def _http_error(error: HTTPException):
    if request_ctx.url_adapter is None:  # a Host werkzeug cannot read: no page can link a URL
        return f"{error.code} {error.name}", error.code, {"Content-Type": "text/plain"}
    body = render_template("error.html", title=error.name, description=error.description)
    return body, error.code


def _server_error(error: Exception):
    db.session.rollback()
    log.exception("unhandled error in request %s", getattr(g, "request_id", "-"))
    body = render_template(
        "error.html",
        title="Something went wrong",
        description="The error was logged. Please try again in a moment.",
    )
    return body, 500
