"""The authenticator models (AAGUIDs) whose attested passkeys an organisation trusts.

One row per model: what it is called, the root certificates its attestation chains must end
in, where the row came from (``manual``: an admin; ``mds``: a FIDO Metadata Service BLOB), and
whether it is allowed. A model that is not allowed keeps its row, so a later MDS import does not
allow it again behind the admin's back.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, String, true
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.extensions import db

SOURCES = ("manual", "mds")


class AuthenticatorModel(db.Model):
    """An authenticator model by AAGUID (lower-case, hyphenated), with its trust anchors."""

    __tablename__ = "authenticator_models"
    id: Mapped[int] = mapped_column(primary_key=True)
    aaguid: Mapped[str] = mapped_column(String(36), unique=True)
    description: Mapped[str] = mapped_column(String(500))
    root_certificates: Mapped[list] = mapped_column(JSON)  # PEM strings
    source: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[int] = mapped_column(BigInteger, default=now)
    allowed: Mapped[bool] = mapped_column(default=True, server_default=true())
