"""Stored MFA policy: the columns a role and the global default share, and per-user overrides."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, String, false, true
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.extensions import db


class PolicyColumns:
    """An MFA policy as columns (``idp.accounts.policies`` makes the engine's ``MfaPolicy``)."""

    mfa_mode: Mapped[str] = mapped_column(String(16), default="off", server_default="off")
    mfa_factors: Mapped[list | None] = mapped_column(JSON, nullable=True)
    remember_device: Mapped[bool] = mapped_column(default=True, server_default=true())
    factor_max_age: Mapped[int | None] = mapped_column(nullable=True)
    grace_signins: Mapped[int] = mapped_column(default=0, server_default="0")
    grace_days: Mapped[int] = mapped_column(default=0, server_default="0")
    # only passkeys attested by an allowed authenticator model are hardware-bound (migration 0024)
    require_attested_passkeys: Mapped[bool] = mapped_column(default=False, server_default=false())


class DefaultPolicy(PolicyColumns, db.Model):
    """The global default policy every user gets, under whatever their roles add (one row)."""

    __tablename__ = "default_policy"
    id: Mapped[int] = mapped_column(primary_key=True)


class PolicyOverride(db.Model):
    """A per-user exemption or requirement with an expiry and a reason (one per user)."""

    __tablename__ = "policy_overrides"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    until: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
