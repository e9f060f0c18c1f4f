"""The browser's sign-in session and its pending authorization requests.

The browser's session (server-side, ``idp.web.session_store``) holds the ``LoginSession`` id and,
while a sign-in is under way, the authorization requests waiting for it. Signing in issues a
fresh session (cookie id and LoginSession id both change), so a session id planted before
sign-in is worthless after it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from flask import current_app, session

from idp import random_tokens
from idp.accounts import policy_inputs, session_end
from idp.clock import now
from idp.extensions import db
from idp.models import LoginSession, User
from idp.policy import Fail, Interact, Proceed
from idp.web import device_cookie

MAX_PENDING = 5
PENDING_TTL = 1800
#: The waiting authorization request an enrollment page resumes when a factor is added.
AFTER_ENROLL = "after_enroll"
#: The user postponed enrollment in this sign-in session (a new sign-in clears the whole cookie
#: session, so the next sign-in asks again).
ENROLLMENT_SKIPPED = "enroll_skipped"


_NEXT_KEY = re.compile(r"[A-Za-z0-9_-]{0,64}")


def next_key(value: object) -> str:
    """A ``next`` value as the pages pass it on: a waiting request's key or an account page's
    name; anything else (too long, other characters, not a string) reads as none, so it is
    never echoed into a page."""
    return value if isinstance(value, str) and _NEXT_KEY.fullmatch(value) else ""


def current() -> LoginSession | None:
    """The active sign-in session of this browser, if any."""
    sid = session.get("sid")
    if not sid:
        return None
    row = db.session.get(LoginSession, sid)
    return row if row is not None and row.is_active(now()) else None


def current_user() -> User | None:
    """The user of this browser's session, even if a second factor is still owed."""
    row = current()
    return db.session.get(User, row.user_id) if row else None


def signed_in_user() -> User | None:
    """The user, only once the session meets the sign-in policy (for account pages)."""
    row = current()
    if row is None:
        return None
    user = db.session.get(User, row.user_id)
    return user if policy_inputs.fully_signed_in(user, row, browser(user)) else None


def browser(user: User) -> policy_inputs.Browser:
    """What this browser says about ``user``, for the policy."""
    return policy_inputs.Browser(
        trusted_device=device_cookie.trusted(user),
        enrollment_skipped=bool(session.get(ENROLLMENT_SKIPPED)),
    )


def account_decision(user: User, operation: str | None = None) -> Proceed | Interact | Fail:
    """The policy's answer for this session on the provider's own pages (or an operation)."""
    return policy_inputs.account_decision(user, current(), browser(user), operation)


def sign_in(user: User, method: str, amr: list[str], for_request: str | None) -> LoginSession:
    """Start a new session for ``user`` after a first-factor authentication.

    ``for_request`` is the key of the waiting authorization request this sign-in answers; it
    is marked as re-authenticated, which satisfies its ``prompt=login`` or ``max_age``.
    """
    previous = current()
    pending = session.get("pending", {})
    if for_request in pending:
        pending[for_request]["a"] = True
    after_enroll = session.get(AFTER_ENROLL)
    session.clear()
    session.rotate()  # a new id: one planted before sign-in names nothing after it
    session["pending"] = pending
    if after_enroll is not None:  # a re-authentication on the way to enrolling keeps it
        session[AFTER_ENROLL] = after_enroll
    row = LoginSession(
        id=random_tokens.token(24),
        user_id=user.id,
        expires_at=now() + current_app.config["SESSION_TTL"],
    )
    db.session.add(row)
    row.authenticated(method, amr, now())
    session["sid"] = row.id
    if previous is not None and previous.user_id == user.id:
        session_end.supersede(previous, row)  # the same user again: the SSO session goes on
    elif previous is not None:
        session_end.end(previous, reason="another_user_signed_in")
    return row


def sign_out() -> LoginSession | None:
    """End the server-side session and forget the cookie's content."""
    row = current()
    if row is not None:
        session_end.end(row, reason="signed_out")
    session.clear()
    session.rotate()
    return row


@dataclass(frozen=True)
class PendingRequest:
    """An authorization request waiting for interactions, and what happened while it waited."""

    key: str
    reauthenticated: bool
    consented: bool


def remember_request(query_string: str) -> PendingRequest:
    """Remember an authorization request across the interactions it needs."""
    key = hashlib.sha256(query_string.encode()).hexdigest()[:32]
    pending = {k: v for k, v in session.get("pending", {}).items() if v["t"] > now() - PENDING_TTL}
    if key not in pending:
        pending[key] = {"q": query_string, "t": now(), "a": False, "c": False}
        while len(pending) > MAX_PENDING:
            pending.pop(min(pending, key=lambda k: pending[k]["t"]))
    session["pending"] = pending
    return PendingRequest(key, pending[key]["a"], pending[key].get("c", False))


def mark_consented(key: str) -> None:
    """The user answered the consent screen for this request (satisfies ``prompt=consent``)."""
    pending = session.get("pending", {})
    if key in pending:
        pending[key]["c"] = True
        session.modified = True


def pending_query(key: str | None) -> str | None:
    """The query string of a remembered request, to resume it after an interaction."""
    entry = session.get("pending", {}).get(key or "")
    return entry["q"] if entry else None


def skip_enrollment() -> None:
    """The user postponed enrolling a second factor: not asked again in this sign-in session."""
    session[ENROLLMENT_SKIPPED] = True


def enrolling_for(key: str) -> None:
    """An enrollment page was opened for this waiting request: resume it after enrolling."""
    session[AFTER_ENROLL] = key


def take_enrollment_request() -> str | None:
    """The request an enrollment was for (forgotten once taken)."""
    return session.pop(AFTER_ENROLL, None)


def want_kinds(key: str, kinds: frozenset[str]) -> None:
    """Remember which factor kinds can meet what this request asks (empty: any)."""
    pending = session.get("pending", {})
    if key in pending:
        pending[key]["k"] = sorted(kinds)
        session.modified = True


def wanted_kinds(key: str | None) -> frozenset[str]:
    """The factor kinds the waiting request can use; empty means any."""
    entry = session.get("pending", {}).get(key or "")
    return frozenset(entry.get("k", ())) if entry else frozenset()


def forget_request(key: str) -> None:
    pending = dict(session.get("pending", {}))
    if pending.pop(key, None) is not None:
        session["pending"] = pending


def offer_kinds(key: str, kinds: frozenset[str]) -> None:
    """Remember which factor kinds /authorize offers to enroll for this request, because a
    level it asks for is out of reach of the user's factors (empty: no such offer). The
    enrollment page cannot work it out: the provider's own pages know no ``acr_values``."""
    pending = session.get("pending", {})
    if key in pending:
        pending[key]["e"] = sorted(kinds)
        session.modified = True


def offered_kinds(key: str | None) -> frozenset[str]:
    """The factor kinds offered to enroll for the waiting request; empty means none."""
    entry = session.get("pending", {}).get(key or "")
    return frozenset(entry.get("e", ())) if entry else frozenset()
