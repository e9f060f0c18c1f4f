"""The provider's sign-in session, the authentication events in it, and remembered consent.

A ``LoginSession`` is server-side: the browser's session (``idp.web.session_store``, itself
server-side) holds only its random id, so signing out ends it for good. Each interactive
authentication adds an ``AuthenticationEvent`` carrying its RFC 8176 ``amr`` values; the policy
reads these events.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.clock import now
from idp.extensions import db
from idp.models.indexes import partial_index


class LoginSession(db.Model):
    """One browser's signed-in state at the provider; its id is the OIDC ``sid``."""

    __tablename__ = "login_sessions"
    # Ending a session follows ``superseded_by`` backwards to the sessions it continued (the
    # sids their clients know, ``logout_notice.session_chain``); most rows have none.
    __table_args__ = (partial_index("ix_login_sessions_superseded_by", "superseded_by"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The session a re-authentication of the same user continued this one in (``session_end``).
    superseded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    events: Mapped[list[AuthenticationEvent]] = relationship(
        order_by="AuthenticationEvent.at", lazy="selectin", cascade="all, delete-orphan"
    )

    def is_active(self, at: int) -> bool:
        return self.ended_at is None and at < self.expires_at

    def authenticated(self, method: str, amr: list[str], at: int) -> AuthenticationEvent:
        """Record an interactive authentication (a password, a passkey, a second factor)."""
        event = AuthenticationEvent(login_session_id=self.id, method=method, amr=amr, at=at)
        self.events.append(event)
        return event


class AuthenticationEvent(db.Model):
    """One successful interactive authentication step (a password, later a factor)."""

    __tablename__ = "authentication_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    login_session_id: Mapped[str] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(32))
    amr: Mapped[list] = mapped_column(JSON)
    at: Mapped[int] = mapped_column(BigInteger, default=now)


class Consent(db.Model):
    """Scopes a user granted to a third-party client, so the consent screen is asked once."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    granted_at: Mapped[int] = mapped_column(BigInteger, default=now)
