"""What the console's dashboard watches: sign-ins over time, who is locked out or waiting now,
and the last day's suspicious events.

Sized for a long audit log: every read of it is a range of the (event, at) index (migration
0023) over the last day or month; a chart's buckets are grouped in SQL (integer division of
``at``, alike on SQLite and PostgreSQL), one query per chart. Buckets are UTC clock hours and
days, so the newest is the one running now. A month of sign-ins is still a few hundred
thousand entries at a million users, so the charts, like ``admin_view.dashboard``'s counts, are
``kept`` a while; who is held or suspicious now is read afresh (partial indexes, migration 0027).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from flask import current_app
from sqlalchemy import and_, func, or_, select

from idp.accounts import password_backoff
from idp.clock import now
from idp.extensions import db
from idp.models import AuditEvent, Factor, PasswordFailures, User
from idp.models.factor import FactorStatus

HOUR, DAY = 3600, 86400
#: A burst: at least this many failed sign-ins for one account, or from one address, within
#: one clock hour (the page states the rule).
BURST = 5
#: How many rows each list shows, newest first.
SHOWN = 10

T = TypeVar("T")


@dataclass(frozen=True)
class Bucket:
    """Sign-ins from ``start`` (epoch seconds) for one bucket's width."""

    start: int
    success: int
    failure: int


@dataclass(frozen=True)
class Held:
    """A user's factor locked or cooling down, or an email whose password sign-in waits;
    ``until`` ``None``: until an admin or a reset lifts it."""

    email: str
    user_id: int | None
    what: str
    until: int | None


@dataclass(frozen=True)
class Holds:
    """How many are held now, and the first few of them."""

    count: int
    first: list[Held] = field(default_factory=list)


@dataclass(frozen=True)
class Notable:
    """A suspicious event, or a burst of them (``count`` in the hour from ``at``)."""

    at: int
    actor: str | None
    user_id: int | None
    ip: str | None = None
    count: int = 1


@dataclass(frozen=True)
class Activity:
    #: When the charts were counted (epoch seconds; they are ``kept``).
    charts_as_of: int
    hours: list[Bucket]
    days: list[Bucket]
    locked: Holds
    cooling: Holds
    passwords: Holds
    account_bursts: list[Notable]
    address_bursts: list[Notable]
    passkeys: list[Notable]
    recoveries: list[Notable]


def activity() -> Activity:
    """Everything the dashboard shows beyond the figures of ``admin_view.dashboard``."""
    at = now()
    charts_as_of, hours, days = kept("charts", _charts)
    return Activity(
        charts_as_of=charts_as_of,
        hours=hours,
        days=days,
        locked=_factors(locked_factor(), Factor.locked_at),
        cooling=_factors(
            and_(_ACTIVE, Factor.locked_at.is_(None), Factor.blocked_until > at),
            Factor.blocked_until,
        ),
        passwords=_passwords(at),
        account_bursts=_bursts(AuditEvent.actor, at),
        address_bursts=_bursts(AuditEvent.ip, at),
        passkeys=_recent(
            at, "factor_activated", AuditEvent.detail["kind"].as_string() == "passkey"
        ),
        recoveries=_recent(at, "recovery_requested"),
    )


def kept(name: str, compute: Callable[[], T]) -> T:
    """``compute()``'s value, computed again only once it is ``IDP_ADMIN_DASHBOARD_TTL``
    seconds old; kept per process and app (each worker keeps its own). The dashboard's counts
    read every user, every factor and a month of sign-ins: at a million users about a second,
    too much for every view of a page that admins leave open and reload."""
    ttl = current_app.config["ADMIN_DASHBOARD_TTL"]
    store = current_app.extensions.setdefault("idp.dashboard", {})
    at = now()
    held = store.get(name)
    if held is None or at - held[0] >= ttl:
        held = store[name] = (at, compute())
    return held[1]


def _charts() -> tuple[int, list[Bucket], list[Bucket]]:
    at = now()
    return at, sign_ins(HOUR, 24, at), sign_ins(DAY, 30, at)


def sign_ins(width: int, count: int, at: int) -> list[Bucket]:
    """Successful and failed sign-ins in each of the ``count`` buckets of ``width`` seconds up
    to the one holding ``at``, oldest first: one grouped query over the index's range."""
    first = at // width - count + 1
    bucket = (AuditEvent.at // width).label("bucket")
    rows = db.session.execute(
        select(bucket, AuditEvent.outcome, func.count())
        .where(AuditEvent.event == "sign_in", AuditEvent.at >= first * width)
        .group_by(bucket, AuditEvent.outcome)
    ).all()
    counts = {(b, outcome): n for b, outcome, n in rows}
    return [
        Bucket((first + i) * width, counts.get((first + i, "success"), 0),
               counts.get((first + i, "failure"), 0))
        for i in range(count)
    ]  # fmt: skip


_ACTIVE = Factor.status == FactorStatus.ACTIVE.value


def locked_factor():
    """An active factor locked by wrong answers (``Factor.locked_at``; partial index of
    migration 0027): it waits for an admin or a recovery. The dashboard's "Locked factors" and
    the user list's ``mfa=locked`` (``admin_view.search``) read the same rows."""
    return and_(_ACTIVE, Factor.locked_at.is_not(None))


def password_waiting(at: int):
    """A ``password_failures`` row whose email's password sign-in waits at ``at``: locked until
    a reset, or backing off (``password_backoff.check``). Shared with ``admin_view.search``."""
    threshold = current_app.config["PASSWORD_LOCKOUT_THRESHOLD"]
    return or_(PasswordFailures.failures >= threshold, PasswordFailures.blocked_until > at)


def _factors(condition, newest) -> Holds:
    """Factors meeting ``condition`` (active and locked, or cooling down), the ``newest`` first. A
    locked one waits for an admin or a recovery; a cooling one until its ``blocked_until``."""
    count = db.session.execute(select(func.count(Factor.id)).where(condition)).scalar_one()
    rows = db.session.execute(
        select(Factor, User.email).join(User, User.id == Factor.user_id).where(condition)
        .order_by(newest.desc(), Factor.id.desc()).limit(SHOWN)
    ).all()  # fmt: skip
    first = [
        Held(email, f.user_id, f.kind, None if f.locked_at is not None else f.blocked_until)
        for f, email in rows
    ]
    return Holds(count, first)


def _passwords(at: int) -> Holds:
    """Emails whose password sign-in waits now. The table holds only digests of emails, so the
    ones named are those its back-offs of the last day recorded in the audit log."""
    threshold = current_app.config["PASSWORD_LOCKOUT_THRESHOLD"]
    waiting = password_waiting(at)
    count = db.session.execute(
        select(func.count()).select_from(PasswordFailures).where(waiting)
    ).scalar_one()
    events = db.session.execute(
        select(AuditEvent.actor, func.max(AuditEvent.subject), func.max(AuditEvent.at))
        .where(AuditEvent.event == "password_backoff", AuditEvent.at >= at - DAY)
        .group_by(AuditEvent.actor)
        .order_by(func.max(AuditEvent.at).desc())
    ).all()
    keys = {password_backoff.key(email): (email, sub) for email, sub, _ in events if email}
    rows = db.session.execute(
        select(PasswordFailures).where(PasswordFailures.key.in_(keys), waiting)
    ).scalars()
    until = {r.key: None if r.failures >= threshold else r.blocked_until for r in rows}
    ids = _user_ids(sub for _, sub in keys.values())
    first = [
        Held(email, ids.get(sub), "password", until[key])
        for key, (email, sub) in keys.items()
        if key in until
    ]
    return Holds(count, first[:SHOWN])


def _bursts(column, at: int) -> list[Notable]:
    """Clock hours of the last day with ``BURST`` or more failed sign-ins sharing ``column``
    (the typed email, or the address), newest first."""
    hour = (AuditEvent.at // HOUR).label("hour")
    rows = db.session.execute(
        select(column, hour, func.count(), func.max(AuditEvent.subject))
        .where(
            AuditEvent.event == "sign_in",
            AuditEvent.at >= at - DAY,
            AuditEvent.outcome == "failure",
            column.is_not(None),
        )
        .group_by(column, hour)
        .having(func.count() >= BURST)
        .order_by(hour.desc(), func.count().desc())
        .limit(SHOWN)
    ).all()
    ids = _user_ids(sub for *_, sub in rows)
    is_ip = column is AuditEvent.ip
    return [
        Notable(h * HOUR, None if is_ip else value, ids.get(sub), value if is_ip else None, n)
        for value, h, n, sub in rows
    ]


def _recent(at: int, event: str, *where) -> list[Notable]:
    """The last day's ``event`` rows, newest first."""
    rows = db.session.execute(
        select(AuditEvent.at, AuditEvent.actor, AuditEvent.subject, AuditEvent.ip)
        .where(AuditEvent.event == event, AuditEvent.at >= at - DAY, *where)
        .order_by(AuditEvent.at.desc())
        .limit(SHOWN)
    ).all()
    ids = _user_ids(sub for *_, sub, _ in rows)
    return [Notable(when, actor, ids.get(sub), ip) for when, actor, sub, ip in rows]


def _user_ids(subs) -> dict[str, int]:
    """The console's user ids of these subjects (events of deleted or unknown users have none)."""
    wanted = {s for s in subs if s}
    if not wanted:
        return {}
    rows = db.session.execute(select(User.sub, User.id).where(User.sub.in_(wanted))).all()
    return dict(rows)
