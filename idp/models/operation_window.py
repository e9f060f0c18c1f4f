"""Windows of the sensitive operations as admins set them in the console (migration 0026)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.extensions import db


class OperationWindow(db.Model):
    """How recent a second factor must be for one sensitive operation, in seconds.

    A row overrides ``IDP_STEPUP_WINDOWS`` / ``IDP_STEPUP_WINDOW`` for its operation; no row:
    the configuration decides (``idp.accounts.operation_windows``).
    """

    __tablename__ = "operation_windows"
    operation: Mapped[str] = mapped_column(String(32), primary_key=True)
    seconds: Mapped[int]
    updated_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now)
