"""Backup codes: 10 codes of 60 bits from the OS generator, shown once, stored as salted hashes.

A set is one factor of kind ``backup_codes``; generating a new set revokes the old one, so old
codes stop working. Each code is used at most once (conditional UPDATE on ``used_at``). Hashes
are argon2id with light parameters: the codes have far more entropy than passwords, and a
sign-in may have to try all ten.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import func, select, update

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.factors import kinds, lifecycle
from idp.factors.base import Verification, WrongCode
from idp.models import BackupCode, Factor, User
from idp.models.factor import FactorKind, FactorStatus

COUNT = 10
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # 31 symbols, no look-alikes: ~4.95 bits each
LENGTH = 13  # 13 symbols ~ 64 bits >= the 50 required
_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def normalize(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def active_set(user: User) -> Factor | None:
    return db.session.execute(
        select(Factor).where(
            Factor.user_id == user.id,
            Factor.kind == FactorKind.BACKUP_CODES.value,
            Factor.status == FactorStatus.ACTIVE.value,
        )
    ).scalar()


def generate(user: User, actor: str) -> list[str]:
    """A new set of codes (returned once, never stored in clear); the old set is revoked."""
    old = active_set(user)
    if old is not None:
        lifecycle.move(
            old, FactorStatus.REVOKED, actor=actor, subject=user.sub, reason="regenerated"
        )
    factor = Factor(user_id=user.id, kind=FactorKind.BACKUP_CODES.value, name="Backup codes")
    db.session.add(factor)
    db.session.flush()
    codes = [_new_code() for _ in range(COUNT)]
    db.session.add_all(
        BackupCode(factor_id=factor.id, digest=_hasher.hash(normalize(c))) for c in codes
    )
    lifecycle.move(factor, FactorStatus.ACTIVE, actor=actor, subject=user.sub, reason="generated")
    audit.record("backup_codes_generated", actor=actor, subject=user.sub, count=COUNT)
    return codes


def with_first_factor(user: User) -> list[str] | None:
    """A first set of codes when the user has none (their first factor was just added)."""
    return generate(user, actor=user.email) if active_set(user) is None else None


def remaining(factor: Factor) -> int:
    return db.session.execute(
        select(func.count()).where(BackupCode.factor_id == factor.id, BackupCode.used_at.is_(None))
    ).scalar_one()


def verify(factor: Factor, code: str, subject: str) -> Verification:
    """Find the unused code that matches and consume it; ``WrongCode`` otherwise."""
    candidate = normalize(code)
    unused = db.session.execute(
        select(BackupCode).where(BackupCode.factor_id == factor.id, BackupCode.used_at.is_(None))
    ).scalars()
    for row in unused:
        if _matches(row.digest, candidate) and _consume(row):
            audit.record("backup_code_used", subject=subject, remaining=remaining(factor))
            return KIND.verification(factor.id)
    raise WrongCode()


def _matches(digest: str, candidate: str) -> bool:
    try:
        return _hasher.verify(digest, candidate)
    except VerificationError:
        return False


def _consume(row: BackupCode) -> bool:
    result = db.session.execute(
        update(BackupCode)
        .where(BackupCode.id == row.id, BackupCode.used_at.is_(None))
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


KIND = kinds.declare(
    kinds.Kind(
        name=FactorKind.BACKUP_CODES.value,
        label="Backup codes",
        method="backup_code",
        amr=frozenset({"otp"}),
        verify=lambda challenge, factor, user, code: verify(factor, str(code), user.sub),
        signin_page="mfa.verify",
        enroll_page=None,
        routine=False,
    )
)
