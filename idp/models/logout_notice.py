"""Back-channel logout notices (OIDC Back-Channel Logout 1.0) waiting for delivery, and their
transitions.

A notice says: tell client ``client_id`` that session ``sid`` of ``sub`` has ended. It is
written in the transaction that ends the session (``enqueue``), so a notice exists exactly when
that end committed, and a process that dies after the commit loses none. The logout token is
never stored: it is signed afresh at each attempt (``idp.oauth2.backchannel_logout``).

```
waiting ──claim──▶ claimed (a lease: next_attempt_at moves to the lease's end)
claimed ──the client answered 200/204──▶ delivered                          (terminal)
claimed ──failure──▶ waiting (next_attempt_at backed off), or gave_up once too old (terminal)
claimed ──the lease ran out (its sender died)──▶ due again, claimed by any process
```

``claim`` is one conditional UPDATE on the attempt count the dispatcher saw: of several
processes looking at one due notice, exactly one sends that attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Index, String, select, text, update
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db
from idp.models.client import Client
from idp.models.session import LoginSession
from idp.models.tokens import Token

#: Set in ``db.session.info`` by ``enqueue``: the dispatcher is woken once the session commits.
ENQUEUED = "idp.logout_notices_enqueued"
#: The longest ``last_error`` kept: a short reason (an HTTP status, an exception's type).
ERROR_LENGTH = 200

_WAITING = text("delivered_at IS NULL AND gave_up_at IS NULL")


class LogoutNotice(db.Model):
    """One logout token still owed (or, once done, delivered or given up) to one client."""

    __tablename__ = "logout_notices"
    # Only waiting notices are indexed: the dispatchers look for due ones every second or two.
    __table_args__ = (
        Index(
            "ix_logout_notices_due",
            "next_attempt_at",
            sqlite_where=_WAITING,
            postgresql_where=_WAITING,
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64))
    sub: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gave_up_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Why the last attempt failed, in a few words; never the token.
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH), nullable=True)


@dataclass(frozen=True)
class Claim:
    """A notice one dispatcher claimed: its ``attempt`` (1 for the first) is this one's."""

    id: int
    client_id: str
    sid: str
    sub: str
    created_at: int
    attempt: int


def session_chain(sid: str) -> list[str]:
    """``sid`` and every session it continued (``LoginSession.superseded_by``), newest first:
    a client that got tokens in an older one knows that older ``sid``."""
    chain, frontier = [sid], [sid]
    while frontier:
        found = db.session.execute(
            select(LoginSession.id).where(LoginSession.superseded_by.in_(frontier))
        ).scalars()
        frontier = [s for s in found if s not in chain]
        chain.extend(frontier)
    return chain


def clients_to_notify(sids: list[str]) -> list[str]:
    """The clients registered for back-channel logout that got tokens in any of ``sids``."""
    received = select(Token.client_id).where(Token.sid.in_(sids))
    return list(
        db.session.execute(
            select(Client.client_id)
            .where(Client.backchannel_logout_uri.is_not(None), Client.client_id.in_(received))
            .order_by(Client.client_id)
        ).scalars()
    )


def enqueue(sid: str, sub: str, at: int) -> int:
    """Owe a logout token for each session of ``sid``'s chain to each client that got tokens in
    it (an ``sid`` a client never saw is harmless to it); returns how many notices."""
    chain = session_chain(sid)
    rows = [
        LogoutNotice(client_id=client_id, sid=s, sub=sub, created_at=at, next_attempt_at=at)
        for client_id in clients_to_notify(chain)
        for s in chain
    ]
    db.session.add_all(rows)
    if rows:
        db.session.info[ENQUEUED] = True
    return len(rows)


def due(at: int, limit: int) -> list[tuple[int, int]]:
    """Waiting notices whose time has come, oldest first: ``(id, attempts)`` to ``claim``."""
    rows = db.session.execute(
        select(LogoutNotice.id, LogoutNotice.attempts)
        .where(
            LogoutNotice.delivered_at.is_(None),
            LogoutNotice.gave_up_at.is_(None),
            LogoutNotice.next_attempt_at <= at,
        )
        .order_by(LogoutNotice.next_attempt_at, LogoutNotice.id)
        .limit(limit)
    )
    return [(row.id, row.attempts) for row in rows]


def claim(notice_id: int, attempts: int, at: int, lease_until: int) -> Claim | None:
    """Take the next attempt of a due notice until ``lease_until``; ``None`` if another process
    took it first (or it is no longer due). One conditional UPDATE: exactly one caller wins."""
    found = db.session.execute(
        update(LogoutNotice)
        .where(
            LogoutNotice.id == notice_id,
            LogoutNotice.attempts == attempts,
            LogoutNotice.next_attempt_at <= at,
            LogoutNotice.delivered_at.is_(None),
            LogoutNotice.gave_up_at.is_(None),
        )
        .values(attempts=attempts + 1, next_attempt_at=lease_until)
        .returning(
            LogoutNotice.id,
            LogoutNotice.client_id,
            LogoutNotice.sid,
            LogoutNotice.sub,
            LogoutNotice.created_at,
            LogoutNotice.attempts,
        )
        .execution_options(synchronize_session=False)
    ).first()
    return Claim(*found) if found is not None else None


def claim_next(at: int, lease_until: int, look_ahead: int = 10) -> Claim | None:
    """Claim the oldest due notice no other process claims first; ``None`` if none is left."""
    for notice_id, attempts in due(at, look_ahead):
        taken = claim(notice_id, attempts, at, lease_until)
        if taken is not None:
            return taken
    return None


def delivered(taken: Claim, at: int) -> bool:
    """The client took the token. Whoever holds the notice now, it is done: True if this call
    marked it (False: it was already delivered or given up)."""
    return _finish(taken, check_attempt=False, delivered_at=at, last_error=None)


def retry(taken: Claim, at: int, error: str) -> bool:
    """This attempt failed: due again at ``at``, unless a later claim has it already."""
    return _finish(taken, check_attempt=True, next_attempt_at=at, last_error=error[:ERROR_LENGTH])


def give_up(taken: Claim, at: int, error: str) -> bool:
    """This attempt failed and the notice is too old to try again (terminal)."""
    return _finish(taken, check_attempt=True, gave_up_at=at, last_error=error[:ERROR_LENGTH])


def _finish(taken: Claim, *, check_attempt: bool, **values: object) -> bool:
    criteria = [
        LogoutNotice.id == taken.id,
        LogoutNotice.delivered_at.is_(None),
        LogoutNotice.gave_up_at.is_(None),
    ]
    if check_attempt:
        criteria.append(LogoutNotice.attempts == taken.attempt)
    result = db.session.execute(
        update(LogoutNotice)
        .where(*criteria)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
