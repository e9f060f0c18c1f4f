"""Account recovery that needs two people: a request, its approvals, and its single-use link.

    requested --approve--> approved_once --approve (another admin)--> approved --link--> used
    requested --approve (single approver allowed)--> approved
    requested | approved_once --deny--> denied
    requested | approved_once | approved --cancel--> cancelled
    requested | approved_once | approved --time passes--> expired

``approved`` is when the link is mailed; ``used`` when the user, through that link, has added a
new second factor. Every move goes through ``transition()``: one conditional UPDATE
(``... WHERE status = :from``), so two admins approving at once cannot both count, and two tabs
finishing one link cannot both finish it. ``idp.accounts.recovery`` audits each move in the same
transaction. At most one request of a user is open (``uq_recovery_requests_open``): a repeated
request finds it instead of adding a second.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.extensions import db
from idp.models.factor import _move


class RecoveryStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED_ONCE = "approved_once"
    APPROVED = "approved"
    USED = "used"
    CANCELLED = "cancelled"
    DENIED = "denied"
    EXPIRED = "expired"


_S = RecoveryStatus
#: Where each state may go; the last four are final.
RECOVERY_MOVES: dict[RecoveryStatus, frozenset[RecoveryStatus]] = {
    _S.REQUESTED: frozenset({_S.APPROVED_ONCE, _S.APPROVED, _S.DENIED, _S.CANCELLED, _S.EXPIRED}),
    _S.APPROVED_ONCE: frozenset({_S.APPROVED, _S.DENIED, _S.CANCELLED, _S.EXPIRED}),
    _S.APPROVED: frozenset({_S.USED, _S.CANCELLED, _S.EXPIRED}),
    _S.USED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.DENIED: frozenset(),
    _S.EXPIRED: frozenset(),
}
#: A request in these states blocks another one of the same user.
OPEN = (_S.REQUESTED.value, _S.APPROVED_ONCE.value, _S.APPROVED.value)
_OPEN_SQL = text("status IN ('requested', 'approved_once', 'approved')")


class RecoveryRequest(db.Model):
    """One user's request to regain access after losing every second factor.

    ``expires_at`` is the request's deadline while it waits for approvals, then the link's.
    ``link_digest`` is the SHA-256 of the mailed link's secret (the secret is never stored);
    ``link_opened_at`` makes the link single use. Notes say how each admin checked identity.
    """

    __tablename__ = "recovery_requests"
    __table_args__ = (
        Index(
            "uq_recovery_requests_open",
            "user_id",
            unique=True,
            sqlite_where=_OPEN_SQL,
            postgresql_where=_OPEN_SQL,
        ),
        Index("ix_recovery_requests_status", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=_S.REQUESTED.value)
    requested_at: Mapped[int] = mapped_column(BigInteger, default=now)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    first_approver_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    first_note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    first_approved_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decision_note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    link_digest: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    link_opened_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def transition(self, to: RecoveryStatus, **stamp: object) -> None:
        """Move to ``to`` with ``stamp``'s columns, or raise ``IllegalTransition``."""
        _move(RecoveryRequest, self, RecoveryStatus(to), RECOVERY_MOVES, stamp)
