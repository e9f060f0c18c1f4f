"""The factors of a user, and every declared factor kind looked up by name.

Importing this module imports every factor module, so each kind has declared itself
(``idp.factors.kinds``) before anything looks one up.
"""

from __future__ import annotations

from sqlalchemy import select

from idp.extensions import db
from idp.factors import backup_codes, delivered_code, kinds, lifecycle, passkey, totp  # noqa: F401
from idp.factors.kinds import Kind
from idp.models import Factor, User
from idp.models.factor import FactorStatus

#: What a person calls each kind, for the pages.
LABELS = {kind.name: kind.label for kind in kinds.declared()}


def kind_of(factor: Factor) -> Kind:
    return kinds.of(factor.kind)


def factors(user: User, *statuses: FactorStatus) -> list[Factor]:
    """The user's factors in these states (default: active), most recently used first."""
    wanted = [s.value for s in statuses or (FactorStatus.ACTIVE,)]
    rows = db.session.execute(
        select(Factor).where(Factor.user_id == user.id, Factor.status.in_(wanted))
    ).scalars()
    return sorted(rows, key=lambda f: (f.last_used_at or 0, f.id), reverse=True)


def routine_factors(user: User) -> list[Factor]:
    """The user's active factors offered at every sign-in (not backup codes)."""
    return [f for f in factors(user) if routine(f)]


def routine(factor: Factor) -> bool:
    """Whether ``factor`` is offered at every sign-in (backup codes are for recovery)."""
    return kind_of(factor).routine


def amr_of(factor: Factor) -> frozenset[str]:
    """The amr values answering this factor adds (a passkey's depend on the key)."""
    return kind_of(factor).amr_of(factor)


def owned(user: User, factor_id: int) -> Factor | None:
    """The user's active factor with this id; another user's factor does not exist here."""
    factor = db.session.get(Factor, factor_id)
    if factor is None or factor.user_id != user.id or not factor.is_active:
        return None
    return factor


def revoke(user: User, factor: Factor, *, actor: str, reason: str) -> bool:
    """Revoke ``factor`` (the user removing it, or an admin); when it was the user's last
    routine factor their backup codes go too, as they only recover one. Returns whether they
    went. The caller commits and tells the user."""
    lifecycle.move(factor, FactorStatus.REVOKED, actor=actor, subject=user.sub, reason=reason)
    backup = None
    if routine(factor) and not routine_factors(user):
        backup = backup_codes.active_set(user)
    if backup is not None:
        lifecycle.move(
            backup, FactorStatus.REVOKED, actor=actor, subject=user.sub, reason="no factor left"
        )
    return backup is not None
