"""The append-only audit table and its signed checkpoints. Rows are only ever inserted; see
``idp.audit``."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db
from idp.models.indexes import partial_index


class AuditEvent(db.Model):
    """One security-relevant event; ``hash`` chains it to the row before.

    ``mac_kid`` names the key of the key ring whose derived HMAC key made ``hash``; NULL on the
    unkeyed rows written before the cut-over (``AuditChain.keyed_from``, migration 0019).
    """

    __tablename__ = "audit_events"
    # Only a user's own events are looked up by subject; rows without one (a client's token)
    # write no page to the index (migration 0009).
    __table_args__ = (partial_index("ix_audit_events_subject", "subject"),)
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True
    )
    at: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(320), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    mac_kid: Mapped[str | None] = mapped_column(String(64), nullable=True)

    CHAINED_FIELDS = (
        "at", "event", "outcome", "actor", "subject", "client_id",
        "ip", "user_agent", "request_id", "detail",
    )  # fmt: skip


class AuditChain(db.Model):
    """The chain's one settings row: rows from ``keyed_from`` on are keyed (migration 0019)."""

    __tablename__ = "audit_chain"
    id: Mapped[int] = mapped_column(primary_key=True)
    keyed_from: Mapped[int] = mapped_column(BigInteger)


class AuditCheckpoint(db.Model):
    """The chain's head at a moment: row ``seq`` had ``hash``; ``signature`` is a JWS (signed
    with the provider's token signing key) of exactly these values, verifiable outside idp."""

    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(Text)
