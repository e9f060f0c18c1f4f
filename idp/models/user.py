"""End users, their roles, single-use password-reset links, and password failures per account."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.clock import now
from idp.extensions import db
from idp.models.indexes import partial_index
from idp.models.policy import PolicyColumns

user_roles = Table(
    "user_roles",
    db.Model.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    # The console lists a role's members in user id order (migration 0020).
    Index("ix_user_roles_role_user", "role_id", "user_id"),
)


class Role(PolicyColumns, db.Model):
    """A named group of users and the MFA policy its members get."""

    __tablename__ = "roles"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")


class User(db.Model):
    """An end user. ``sub`` is the stable, non-reassigned OIDC subject identifier."""

    __tablename__ = "users"
    # The admin console searches by email and name prefix (migration 0020). On PostgreSQL the
    # pattern operator class serves ``LIKE 'prefix%'`` whatever the database's collation.
    __table_args__ = (
        Index("ix_users_name", "name", postgresql_ops={"name": "text_pattern_ops"}),
        Index("ix_users_email_prefix", "email", postgresql_ops={"email": "text_pattern_ops"}),
        # The user list's ``mfa=grace``: the few users whose enrollment grace began (0027).
        partial_index("ix_users_grace_started_at", "grace_started_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), unique=True, default=lambda: str(uuid.uuid4()))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    password_changed_at: Mapped[int] = mapped_column(BigInteger, default=now)
    roles: Mapped[list[Role]] = relationship(secondary=user_roles)
    #: Enrollment grace: when the user first postponed a required enrollment, and how often.
    grace_started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    grace_skips: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Set by an admin (``idp.accounts.admin_actions.disable``; migration 0021).
    disabled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    @hybrid_property
    def enabled(self) -> bool:
        """The one test of "may this account sign in and use its tokens", in Python and in
        SQL (``select(...).where(User.enabled)``): not disabled by an admin."""
        return self.disabled_at is None

    @enabled.inplace.expression
    @classmethod
    def _enabled_expression(cls):
        return cls.disabled_at.is_(None)

    @staticmethod
    def normalize_email(email: str) -> str:
        """Emails are matched case-insensitively, so they are stored lower-cased."""
        return email.strip().lower()


class PasswordReset(db.Model):
    """A password-reset link: stored as a digest, single use, short-lived."""

    __tablename__ = "password_resets"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class EmailChange(db.Model):
    """A requested change of a user's email: a single-use link mailed to the new address."""

    __tablename__ = "email_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    new_email: Mapped[str] = mapped_column(String(320))
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class PasswordFailures(db.Model):
    """Consecutive wrong passwords typed for one email, from any address (NIST SP 800-63B
    5.2.2). Keyed by a digest of the normalised email, known to an account or not, so the table
    says nothing about who has one; a successful sign-in or a new password deletes the row."""

    __tablename__ = "password_failures"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[int] = mapped_column(BigInteger, index=True)
    blocked_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
