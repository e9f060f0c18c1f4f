"""What a browser's session holds between requests, kept server-side one value per row.

The browser's cookie carries only a random token; its SHA-256 digest names the rows, so a
database leak gives no usable cookie. See ``idp.web.session_store`` for why each session key is
its own row.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


class BrowserStateValue(db.Model):
    """One key of one browser's session (``sid``, ``pending``, ``csrf_token``...)."""

    __tablename__ = "browser_state"
    browser: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
