"""Second factors and their challenges, as explicit state machines.

    Factor:     pending --activate--> active --revoke--> revoked     (pending never satisfies)
                pending --revoke (abandoned, expired)--> revoked
    Challenge:  issued --verify ok--> verified | --ttl--> expired | --too many wrong--> failed

Every transition goes through ``transition()``: it refuses illegal moves and applies the move
with one conditional UPDATE (``... WHERE status = :from``) so two workers cannot both make it. A
second verification of a verified challenge therefore fails cleanly instead of succeeding twice.
Models import no audit: ``idp.factors.lifecycle`` moves a row and audits the move in the same
transaction.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON, BigInteger, ForeignKey, String, update
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.extensions import db
from idp.models.indexes import partial_index


class IllegalTransition(Exception):
    """A state machine was asked for a move it does not have, or lost the race for it."""


class FactorKind(StrEnum):
    TOTP = "totp"
    PASSKEY = "passkey"
    EMAIL = "email"
    SMS = "sms"
    BACKUP_CODES = "backup_codes"


class FactorStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REVOKED = "revoked"


class ChallengeStatus(StrEnum):
    ISSUED = "issued"
    VERIFIED = "verified"
    EXPIRED = "expired"
    FAILED = "failed"


FACTOR_MOVES: dict[FactorStatus, frozenset[FactorStatus]] = {
    FactorStatus.PENDING: frozenset({FactorStatus.ACTIVE, FactorStatus.REVOKED}),
    FactorStatus.ACTIVE: frozenset({FactorStatus.REVOKED}),
    FactorStatus.REVOKED: frozenset(),
}
CHALLENGE_MOVES: dict[ChallengeStatus, frozenset[ChallengeStatus]] = {
    ChallengeStatus.ISSUED: frozenset(
        {ChallengeStatus.VERIFIED, ChallengeStatus.EXPIRED, ChallengeStatus.FAILED}
    ),
    ChallengeStatus.VERIFIED: frozenset(),
    ChallengeStatus.EXPIRED: frozenset(),
    ChallengeStatus.FAILED: frozenset(),
}


def _move(model, row, to, moves: dict, stamp: dict) -> None:
    """Apply ``row.status -> to`` with a conditional UPDATE; refuse illegal or lost moves."""
    current = type(to)(row.status)
    if to not in moves[current]:
        raise IllegalTransition(f"{model.__tablename__}: {current} -> {to} is not allowed")
    result = db.session.execute(
        update(model)
        .where(model.id == row.id, model.status == current.value)
        .values(status=to.value, **stamp)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise IllegalTransition(f"{model.__tablename__} {row.id} changed concurrently")
    row.status = to.value
    for key, value in stamp.items():
        setattr(row, key, value)


class Factor(db.Model):
    """One second factor of a user: its kind, name, state, and its kind's data.

    ``secret`` is AES-GCM ciphertext (``idp.keys.encryption``); ``data`` holds only public values
    (credential id, public key, sign count, a masked phone number...).
    """

    __tablename__ = "factors"
    # The dashboard's locked and cooling factors (migration 0027).
    __table_args__ = (
        partial_index("ix_factors_locked_at", "locked_at"),
        partial_index("ix_factors_blocked_until", "blocked_until"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default=FactorStatus.PENDING.value)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    activated_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    secret: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    lookup: Mapped[str | None] = mapped_column(String(512), unique=True, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failures: Mapped[int] = mapped_column(default=0)
    blocked_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    locked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    @property
    def is_active(self) -> bool:
        return self.status == FactorStatus.ACTIVE.value

    def transition(self, to: FactorStatus) -> None:
        """Move to ``to`` or raise ``IllegalTransition`` (the caller audits the move)."""
        to = FactorStatus(to)
        stamp = {"activated_at": now()} if to is FactorStatus.ACTIVE else {"revoked_at": now()}
        _move(Factor, self, to, FACTOR_MOVES, stamp)


class Challenge(db.Model):
    """One single-use, short-lived question to a factor, bound to a sign-in session."""

    __tablename__ = "challenges"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    login_session_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    factor_id: Mapped[int | None] = mapped_column(
        ForeignKey("factors.id", ondelete="CASCADE"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ChallengeStatus.ISSUED.value)
    issued_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    secret: Mapped[str | None] = mapped_column(String(512), nullable=True)

    def transition(self, to: ChallengeStatus) -> None:
        """Move to ``to`` or raise ``IllegalTransition`` (the caller audits the move)."""
        _move(Challenge, self, ChallengeStatus(to), CHALLENGE_MOVES, {"finished_at": now()})


class BackupCode(db.Model):
    """One backup code of a user's current set: a salted hash, single use."""

    __tablename__ = "backup_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    factor_id: Mapped[int] = mapped_column(ForeignKey("factors.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
