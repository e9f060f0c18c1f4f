"""The browser's session, kept server-side: the cookie holds only a random id.

Why not the signed cookie Flask keeps by default: the whole session travelled in every response
that changed any of it, and a browser keeps the cookie of whichever response arrived last. A
page's background call (the passkey autofill options on the sign-in page) that answered after a
newer ``/authorize`` in another tab put the older session back, and the newer waiting
authorization request was lost (the user ended on the account page instead of the app).

Here each key of the session is its own row (``BrowserStateValue``) and a response writes only
the keys its request changed, so requests of one browser that overlap keep what each wrote.
The cookie is set only when its id changes: when a browser first gets state, and when a
sign-in or a sign-out calls ``rotate`` (a session id planted before sign-in is worthless after
it). An id that names no live rows is never adopted; the browser gets a new one.
"""

from __future__ import annotations

import re

from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSession, SessionInterface
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from idp import random_tokens
from idp.clock import now
from idp.extensions import db
from idp.models.browser_state import BrowserStateValue
from idp.web import outage

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_serializer = TaggedJSONSerializer()


class BrowserSession(SecureCookieSession):
    """The session of one request: its values, the id they were read under, and what was read,
    so that saving writes only what changed."""

    def __init__(self, values: dict | None = None, token: str | None = None) -> None:
        super().__init__(values or {})
        self.token = token
        self.read = _encoded(values or {})
        self.rotated = False
        self.unavailable: Exception | None = None

    def rotate(self) -> None:
        """Store this session under a new id at the end of the request; the old id is dropped."""
        self.rotated = True
        self.modified = True


class ServerSideSessionInterface(SessionInterface):
    """Flask's session interface over ``browser_state`` rows."""

    def open_session(self, app: Flask, request: Request) -> BrowserSession:
        if "HTTP_COOKIE" not in request.environ:  # machine clients: no cookie, no query
            return BrowserSession()
        token = request.cookies.get(self.get_cookie_name(app), "")
        if not _TOKEN.fullmatch(token):
            return BrowserSession()
        try:
            values = _load(random_tokens.digest(token))
        except outage.DATABASE_UNAVAILABLE as error:
            session = BrowserSession()
            session.unavailable = error
            return session
        return BrowserSession(values, token) if values else BrowserSession()

    def save_session(self, app: Flask, session: BrowserSession, response: Response) -> None:
        if session.accessed:
            response.vary.add("Cookie")
        if session.unavailable is not None:
            outage.replace(response, session.unavailable)
            return
        try:
            token = _save(session, app.config["SESSION_TTL"])
        except outage.DATABASE_UNAVAILABLE as error:
            outage.replace(response, error)
            return
        if token != session.token:
            self._send(app, response, token)

    def _send(self, app: Flask, response: Response, token: str | None) -> None:
        """Set the cookie to a new id, or delete it when the session ended empty."""
        options = {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "samesite": self.get_cookie_samesite(app),
            "httponly": self.get_cookie_httponly(app),
        }
        name = self.get_cookie_name(app)
        if token is None:
            response.delete_cookie(name, **options)
        else:
            response.set_cookie(name, token, **options)
        response.vary.add("Cookie")


def _encoded(values: dict) -> dict[str, str]:
    return {key: _serializer.dumps(value) for key, value in values.items()}


def _load(browser: str) -> dict:
    rows = db.session.execute(
        select(BrowserStateValue.key, BrowserStateValue.value).where(
            BrowserStateValue.browser == browser, BrowserStateValue.expires_at > now()
        )
    ).all()
    db.session.commit()  # end the read: the view's own transaction starts clean
    return {key: _serializer.loads(value) for key, value in rows}


def _save(session: BrowserSession, ttl: int) -> str | None:
    """Write what this request changed; returns the id the browser's cookie must hold now."""
    values = _encoded(dict(session))
    token = session.token
    if session.rotated or token is None:
        if token is not None:
            _drop(token)
        if not values:
            db.session.commit()
            return None
        token, read = random_tokens.token(32), {}
        _forget_expired()
    else:
        read = session.read
    changed = {key: value for key, value in values.items() if read.get(key) != value}
    removed = [key for key in read if key not in values]
    if not (changed or removed):
        return token
    browser = random_tokens.digest(token)
    expires_at = now() + ttl
    if removed:
        db.session.execute(
            delete(BrowserStateValue).where(
                BrowserStateValue.browser == browser, BrowserStateValue.key.in_(removed)
            )
        )
    for key, value in changed.items():
        _upsert(browser, key, value, expires_at)
    db.session.execute(
        update(BrowserStateValue)
        .where(BrowserStateValue.browser == browser)
        .values(expires_at=expires_at)
    )
    db.session.commit()
    return token if values else None


def _upsert(browser: str, key: str, value: str, expires_at: int) -> None:
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(BrowserStateValue).values(
        browser=browser, key=key, value=value, expires_at=expires_at
    )
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["browser", "key"], set_={"value": value, "expires_at": expires_at}
        )
    )


def _drop(token: str) -> None:
    browser = random_tokens.digest(token)
    db.session.execute(delete(BrowserStateValue).where(BrowserStateValue.browser == browser))


def _forget_expired() -> None:
    """Whenever a browser gets a new id, the rows of sessions that expired go."""
    db.session.execute(delete(BrowserStateValue).where(BrowserStateValue.expires_at <= now()))
