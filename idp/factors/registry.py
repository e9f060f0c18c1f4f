"""The factors of a user, and the one entry point that verifies an answer for any kind."""

from __future__ import annotations

from sqlalchemy import select

from idp.clock import now
from idp.extensions import db
from idp.factors import backup_codes, passkey, totp
from idp.factors.base import FactorError, Verification
from idp.models import Factor, User
from idp.models.factor import FactorKind, FactorStatus

LABELS = {
    FactorKind.TOTP.value: "Authenticator app",
    FactorKind.PASSKEY.value: "Passkey",
    FactorKind.EMAIL.value: "Email code",
    FactorKind.SMS.value: "Text message (SMS) code",
    FactorKind.BACKUP_CODES.value: "Backup codes",
}


def factors(user: User, *statuses: FactorStatus) -> list[Factor]:
    """The user's factors in these states (default: active), most recently used first."""
    wanted = [s.value for s in statuses or (FactorStatus.ACTIVE,)]
    rows = db.session.execute(
        select(Factor).where(Factor.user_id == user.id, Factor.status.in_(wanted))
    ).scalars()
    return sorted(rows, key=lambda f: (f.last_used_at or 0, f.id), reverse=True)


def active_kinds(user: User) -> frozenset[str]:
    return frozenset(f.kind for f in factors(user))


#: The amr values answering a factor of each kind adds (RFC 8176); passkeys depend on the key.
KIND_AMR = {
    FactorKind.TOTP.value: frozenset({"otp"}),
    FactorKind.EMAIL.value: frozenset({"otp"}),
    FactorKind.SMS.value: frozenset({"otp", "sms"}),
    FactorKind.BACKUP_CODES.value: frozenset({"otp"}),
}


def amr_of(factor: Factor) -> frozenset[str]:
    """The amr values answering this factor adds (a passkey's depend on the key)."""
    if factor.kind == FactorKind.PASSKEY.value:
        return frozenset({passkey.key_amr(factor)})
    return KIND_AMR[factor.kind]


def owned(user: User, factor_id: int) -> Factor | None:
    """The user's active factor with this id; another user's factor does not exist here."""
    factor = db.session.get(Factor, factor_id)
    if factor is None or factor.user_id != user.id or not factor.is_active:
        return None
    return factor


def verify_code(factor: Factor, code: str, user: User) -> Verification:
    """Check a typed code against a code-based factor (TOTP, backup codes)."""
    if factor.kind == FactorKind.TOTP.value:
        return totp.verify(factor, code, now())
    if factor.kind == FactorKind.BACKUP_CODES.value:
        return backup_codes.verify(factor, code, user.sub)
    raise FactorError("This method does not take a typed code.")
