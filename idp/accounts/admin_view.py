"""What the admin console and its CLI twins read and change: one user's whole picture, the user
list, the dashboard's figures, and a user's roles (audited with actor, before and after).

The console (``idp.views.admin``) and ``idp users show`` / ``set-roles`` call the same functions,
so both show and change the same things. Reads are sized for a large user table: the list pages
by id (keyset, no count of the table); a rare search prefix is looked up on indexed columns
(migration 0020), a common one tested row by row along the id order (``_matching``); so is a
two-step verification state: a common one tested per row, a rare one gathered from partial
indexes (migration 0027; ``_mfa_status``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, distinct, exists, func, or_, select, union
from sqlalchemy.orm import selectinload

from idp import audit
from idp.accounts import dashboard as holds
from idp.accounts import offline_grants, password_backoff, policies, trusted_devices, users
from idp.accounts.dashboard import kept
from idp.clock import now
from idp.extensions import db
from idp.factors import attestation
from idp.models import AuditEvent, Factor, LoginSession, PasswordFailures, Role, User
from idp.models.factor import FactorStatus
from idp.models.user import user_roles

ADMIN = "admin"
AUDITOR = "auditor"
#: Roles that open the console: ``admin`` changes, ``auditor`` only reads.
CONSOLE_ROLES = frozenset({ADMIN, AUDITOR})
#: How many of a user's audit events their page shows, newest first.
RECENT_EVENTS = 20
#: Kinds that count as enrolled in MFA (backup codes only recover one of these).
RECOVERY_KINDS = ("backup_codes",)
#: The user list's two-step verification states (``search``'s ``mfa``; "" is any).
MFA_STATUSES = ("none", "enrolled", "grace", "locked")
#: How many matches make a search prefix common (see ``_matching``).
COMMON = 2000
_TOP = "\U0010ffff"  # the last character: [prefix, prefix + _TOP) holds the prefix (binary order)


def role_names(user: User) -> list[str]:
    return sorted(r.name for r in user.roles)


def all_roles() -> list[str]:
    return list(db.session.execute(select(Role.name).order_by(Role.name)).scalars())


def set_roles(user: User, names: list[str], *, actor: str) -> tuple[list[str], list[str]]:
    """Replace ``user``'s roles with ``names``; the caller commits. Returns (before, after);
    audited (``roles_set``) when they differ. Raises ``LookupError`` naming an unknown role,
    before anything changes."""
    wanted = [users.role(n) for n in dict.fromkeys(names)]
    before = role_names(user)
    after = sorted(r.name for r in wanted)
    if before != after:
        user.roles = wanted
        audit.record("roles_set", actor=actor, subject=user.sub, before=before, after=after)
    return before, after


def self_demotion(actor: User, target: User, names: list[str]) -> str | None:
    """Why the console refuses these roles: an admin taking their own ``admin`` role away
    there (another admin, or ``idp users set-roles``, can), so nobody locks themselves out."""
    if actor.id == target.id and ADMIN not in names:
        return "You cannot remove your own admin role here; another admin can."
    return None


def detail(user: User) -> dict:
    """Everything the console's user page and ``idp users show`` print about ``user`` (no
    secrets: no session ids, token values, factor secrets or credential keys)."""
    return {
        "sub": user.sub,
        "email": user.email,
        "name": user.name,
        "created_at": user.created_at,
        "roles": role_names(user),
        "disabled_at": user.disabled_at,
        "disabled_reason": user.disabled_reason,
        "override": _override(user),
        "factors": [_factor(f) for f in _factors(user)],
        "remembered_browsers": [
            {
                "id": d.id,
                "label": d.label,
                "created_at": d.created_at,
                "expires_at": d.expires_at,
                "last_used_at": d.last_used_at,
            }
            for d in trusted_devices.listed(user)
        ],  # fmt: skip
        "sessions": [_session(s) for s in _live_sessions(user)],
        "offline_grants": [
            {
                "client_id": g.client_id,
                "client_name": g.client_name,
                "scope": g.scope,
                "granted_at": g.granted_at,
                "last_used_at": g.last_used_at,
            }
            for g in offline_grants.of(user)
        ],  # fmt: skip
        "recent_events": [_event(e) for e in _recent_events(user)],
    }


def _factors(user: User) -> list[Factor]:
    query = select(Factor).where(Factor.user_id == user.id).order_by(Factor.id.desc())
    return list(db.session.execute(query).scalars())


def _factor(factor: Factor) -> dict:
    row = {
        "id": factor.id,
        "kind": factor.kind,
        "name": factor.name,
        "status": factor.status,
        "created_at": factor.created_at,
        "last_used_at": factor.last_used_at,
        "locked": factor.locked_at is not None,
    }
    if factor.kind == "passkey":
        row["aaguid"] = (factor.data or {}).get("aaguid")
        # the owner's policy requires attested passkeys and this one is not: never phrh
        row["below_policy"] = not attestation.hardware_bound(factor)
    return row


def _override(user: User) -> dict | None:
    row = policies.override_of(user)
    return None if row is None else {"kind": row.kind, "until": row.until, "reason": row.reason}


def _live_sessions(user: User) -> list[LoginSession]:
    query = (
        select(LoginSession)
        .where(
            LoginSession.user_id == user.id,
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > now(),
        )
        .order_by(LoginSession.created_at.desc())
    )
    return list(db.session.execute(query).scalars())


def _session(row: LoginSession) -> dict:
    amr = sorted({v for e in row.events for v in e.amr})
    last = max((e.at for e in row.events), default=row.created_at)
    return {"created_at": row.created_at, "expires_at": row.expires_at, "amr": amr,
            "last_authenticated_at": last}  # fmt: skip


def _recent_events(user: User) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.subject == user.sub)
        .order_by(AuditEvent.seq.desc())
        .limit(RECENT_EVENTS)
    )
    return list(db.session.execute(query).scalars())


def _event(row: AuditEvent) -> dict:
    return {"at": row.at, "event": row.event, "outcome": row.outcome, "actor": row.actor,
            "client_id": row.client_id, "ip": row.ip, "detail": row.detail}  # fmt: skip


@dataclass(frozen=True)
class UserPage:
    """One page of the user list and the id the next page starts after (``None``: last)."""

    users: list[User]
    next_after: int | None


def search(
    query: str = "", role: str = "", *, mfa: str = "", after: int = 0, limit: int = 50
) -> UserPage:
    """Users whose email or name starts with ``query`` (the email case-insensitively, the name
    as typed or capitalised), holding ``role`` if given, in the two-step verification state
    ``mfa`` if given (one of ``MFA_STATUSES``, see ``_mfa_status``), in id order after
    ``after``. Raises ``LookupError`` for another ``mfa``."""
    statement = select(User).options(selectinload(User.roles)).where(User.id > after)
    statement = statement.order_by(User.id).limit(limit + 1)
    query = query.strip()
    if query:
        statement = statement.where(_matching(query, after))
    if mfa:
        statement = statement.where(_mfa_status(mfa, after))
    if role:  # walk the role's members in user id order (ix_user_roles_role_user), no sort
        role_id = db.session.execute(select(Role.id).where(Role.name == role)).scalar()
        statement = (
            statement.join(user_roles, user_roles.c.user_id == User.id)
            .where(user_roles.c.role_id == role_id, user_roles.c.user_id > after)
            .order_by(None)
            .order_by(user_roles.c.user_id)
        )
    rows = list(db.session.execute(statement).scalars())
    more = len(rows) > limit
    return UserPage(rows[:limit], rows[limit - 1].id if more else None)


def _mfa_status(mfa: str, after: int):
    """The condition "``mfa`` is the user's two-step verification state":

    - ``none``: no active second factor (backup codes only recover one);
    - ``enrolled``: at least one;
    - ``grace``: none, and the enrollment grace began (a required enrollment postponed,
      ``policies.postpone_enrollment``; whether any of it is left is the policy's to say);
    - ``locked``: a factor locked by wrong answers, or password sign-in waiting (the
      dashboard's "Locked factors" and "Password sign-in waiting", the same predicates).

    ``none`` and ``enrolled`` are common: an EXISTS on ``factors (user_id)`` tested row by row
    as the list walks the id order. ``grace`` and ``locked`` are rare: their users are
    gathered from partial indexes (migration 0027), as a rare prefix is (``_matching``)."""
    enrolled = exists().where(
        Factor.user_id == User.id,
        Factor.status == FactorStatus.ACTIVE.value,
        Factor.kind.not_in(RECOVERY_KINDS),
    )
    if mfa == "none":
        return ~enrolled
    if mfa == "enrolled":
        return enrolled
    if mfa == "grace":
        began = select(User.id).where(User.grace_started_at.is_not(None))
        return and_(User.id.in_(began), ~enrolled)
    if mfa == "locked":
        return User.id.in_(_locked(after))
    raise LookupError(f"unknown two-step verification state: {mfa}")


def _locked(after: int):
    """The ids of users with a locked factor or whose password sign-in waits, after ``after``.

    ``password_failures`` is keyed by a digest of the email, so its waiting rows (few) are tied
    to users through the ``password_backoff`` audit events their last failures recorded, in the
    same second or the next (the (event, at) index; each names its user), and each match is
    checked against the digest of the user's email now."""
    factors = select(Factor.user_id).where(holds.locked_factor())
    rows = db.session.execute(
        select(PasswordFailures.key, PasswordFailures.last_failure_at).where(
            holds.password_waiting(now())
        )
    ).all()
    if not rows:
        return factors
    keys = {key for key, _ in rows}
    moments = sorted({at + d for _, at in rows for d in (0, 1)})
    candidates = db.session.execute(
        select(User.id, User.email)
        .join(AuditEvent, AuditEvent.subject == User.sub)
        .where(AuditEvent.event == "password_backoff", AuditEvent.at.in_(moments),
               User.id > after)
    ).all()  # fmt: skip
    waiting = sorted({i for i, email in candidates if password_backoff.key(email) in keys})
    return union(factors, select(User.id).where(User.id.in_(waiting))) if waiting else factors


def _matching(query: str, after: int):
    """The condition "email or name starts with ``query``", shaped for how many users match.

    A rare prefix: its matching ids, gathered by one indexed range per prefix and unioned (an
    OR in one WHERE lets the planner walk the primary key through the whole table instead). A
    common one (``COMMON`` matches or more after ``after``, counted by reading at most that many
    index entries): gathering them would read them all for every page, so each row is tested
    instead as the list walks the id order (or the role's members), and a page reads about
    ``limit`` divided by the share of rows that match. The test is ``substr(column) = prefix``,
    which no index serves, so the planner keeps walking. The same rows either way, in id
    order: only the reads differ."""
    names = {query, query[:1].upper() + query[1:]}
    prefixes = [(User.email, query.lower()), *((User.name, n) for n in names)]
    branches = [select(User.id).where(_prefix(c, p), User.id > after) for c, p in prefixes]
    if _at_least(COMMON, branches) < COMMON:
        return User.id.in_(union(*branches))
    return or_(*(func.substr(c, 1, len(p)) == p for c, p in prefixes))


def _at_least(count: int, branches: list) -> int:
    """How many rows the ``branches`` select together, counting each up to ``count``: each a
    count of its own with its own limit, so that PostgreSQL reads a limited range of its index
    rather than a bitmap of every match."""
    counts = [
        select(func.count()).select_from(b.limit(count).subquery()).scalar_subquery()
        for b in branches
    ]
    return db.session.execute(select(sum(counts[1:], counts[0]))).scalar_one()


def _prefix(column, prefix: str):
    """``column`` starts with ``prefix``. PostgreSQL serves a left-anchored LIKE from the
    pattern-class index (migration 0020); SQLite's LIKE ignores case and uses no index, so there
    a byte range finds the rows and LIKE only checks them (under a linguistic collation a range
    is no prefix test, hence not on PostgreSQL)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = column.like(escaped + "%", escape="\\")
    if db.session.get_bind().dialect.name == "postgresql":
        return like
    return and_(column >= prefix, column < prefix + _TOP, like)


@dataclass(frozen=True)
class Share:
    """``enrolled`` of ``total`` users; ``percent`` for the page."""

    total: int
    enrolled: int

    @property
    def percent(self) -> int:
        return round(100 * self.enrolled / self.total) if self.total else 0


@dataclass(frozen=True)
class Dashboard:
    #: When these were counted (epoch seconds; they are ``dashboard.kept``).
    as_of: int
    users: Share
    per_role: dict[str, Share]
    per_kind: dict[str, int]
    #: outcome ("success", "failure") -> sign-ins, over the last 24 hours and 30 days.
    sign_ins_day: dict[str, int]
    sign_ins_month: dict[str, int]


def dashboard() -> Dashboard:
    """The console's figures: users, MFA enrolment (overall, per role, per factor kind), and
    sign-ins and their failures from the audit log. Counts over the whole user and factor
    tables, so they are kept a while (``IDP_ADMIN_DASHBOARD_TTL``; the page says as of when)."""
    return kept("figures", _figures)


def _figures() -> Dashboard:
    enrolled = (
        select(Factor.user_id)
        .where(Factor.status == FactorStatus.ACTIVE.value, Factor.kind.not_in(RECOVERY_KINDS))
        .distinct()
    )
    total = db.session.execute(select(func.count(User.id))).scalar_one()
    with_mfa = db.session.execute(select(func.count()).select_from(enrolled.subquery())).scalar()
    members = dict(
        db.session.execute(
            select(Role.name, func.count(user_roles.c.user_id))
            .outerjoin(user_roles, user_roles.c.role_id == Role.id)
            .group_by(Role.name)
        ).all()
    )
    members_enrolled = dict(
        db.session.execute(
            select(Role.name, func.count(user_roles.c.user_id))
            .join(user_roles, user_roles.c.role_id == Role.id)
            .where(user_roles.c.user_id.in_(enrolled))
            .group_by(Role.name)
        ).all()
    )
    per_kind = dict(
        db.session.execute(
            select(Factor.kind, func.count(distinct(Factor.user_id)))
            .where(Factor.status == FactorStatus.ACTIVE.value)
            .group_by(Factor.kind)
        ).all()
    )
    return Dashboard(
        as_of=now(),
        users=Share(total, with_mfa or 0),
        per_role={n: Share(c, members_enrolled.get(n, 0)) for n, c in sorted(members.items())},
        per_kind=dict(sorted(per_kind.items())),
        sign_ins_day=_sign_ins(86400),
        sign_ins_month=_sign_ins(30 * 86400),
    )


def _sign_ins(seconds: int) -> dict[str, int]:
    rows = db.session.execute(
        select(AuditEvent.outcome, func.count())
        .where(AuditEvent.event == "sign_in", AuditEvent.at >= now() - seconds)
        .group_by(AuditEvent.outcome)
    ).all()
    counts = dict(rows)
    return {"success": counts.get("success", 0), "failure": counts.get("failure", 0)}
