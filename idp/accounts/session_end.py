"""Ending sign-in sessions, whatever ends them, in one place: the tokens bound to a session end
with it.

A refresh token is online unless ``offline_access`` was granted (OIDC Core 11): it and the
access tokens issued in a session are bound to that session (``Token.sid``) and revoked when
it ends (sign-out, RP-initiated logout, a password change or reset, an admin ending the user's
sessions, another user signing in in the same browser). Offline grants survive; the user
revokes them on the account page.

Clients registered for back-channel logout (OIDC BCL 1.0) that got tokens in an ending session,
or in one it continued, are owed a logout token: the notices are queued in the same transaction
(``idp.models.logout_notice``) and delivered by each provider process's dispatcher once it
commits, so ending a session never waits for a client.

A user who signs in again in the same browser (``prompt=login``, ``max_age``) gets a new
session id, but it continues the old one: the old session is ``superseded_by`` the new, and its
online tokens are re-bound to it, so they keep working until the new one ends.
"""

from __future__ import annotations

from sqlalchemy import select, update

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.models import LoginSession, Token, User, logout_notice
from idp.models.tokens import revoke_where


def end(row: LoginSession, *, reason: str, actor: str | None = None) -> int:
    """End ``row`` (if it is not already) and revoke its online tokens; returns how many.

    Ending a live session also queues its back-channel logout notices (``logout_notice``).
    """
    live = row.ended_at is None
    if live:
        row.ended_at = now()
    revoked = revoke_where(Token.sid == row.id, Token.offline.is_(False))
    user = db.session.get(User, row.user_id)
    notices = logout_notice.enqueue(row.id, user.sub, now()) if live and user else 0
    audit.record(
        "session_ended", actor=actor or (user.email if user else None),
        subject=user.sub if user else None, sid=row.id, reason=reason, tokens_revoked=revoked,
        logout_notices=notices,
    )  # fmt: skip
    return revoked


def supersede(previous: LoginSession, successor: LoginSession) -> None:
    """The same user signed in again: ``successor`` continues ``previous``'s sign-in session."""
    previous.ended_at = now()
    previous.superseded_by = successor.id
    db.session.flush()  # the successor's row exists before tokens point at it
    db.session.execute(
        update(Token)
        .where(Token.sid == previous.id, Token.offline.is_(False), Token.revoked_at.is_(None))
        .values(sid=successor.id)
    )


def end_all(
    user: User, *, reason: str, actor: str | None = None, keep: LoginSession | None = None
) -> int:
    """End every live session of ``user`` but ``keep``; returns how many ended."""
    live = db.session.execute(
        select(LoginSession).where(
            LoginSession.user_id == user.id,
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > now(),
        )
    ).scalars()
    ended = [row for row in live if keep is None or row.id != keep.id]
    for row in ended:
        end(row, reason=reason, actor=actor)
    return len(ended)
