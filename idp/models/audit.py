"""The append-only audit table and its signed checkpoints. Rows are only ever inserted; see
``idp.audit``."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from idp.extensions import db


def _by_seq(column: str, *, partial: bool = True) -> Index:
    """``column``'s rows in ``seq`` order: a filter on it pages newest first by key (``seq <
    before``) straight off the index. Partial: rows without a value (a CLI event has no
    address, a sign-in no client) write no entry; only values are looked for."""
    where = text(f"{column} IS NOT NULL") if partial else None
    return Index(
        f"ix_audit_events_{column}_seq", column, "seq", sqlite_where=where, postgresql_where=where
    )


class AuditEvent(db.Model):
    """One security-relevant event; ``hash`` chains it to the row before.

    ``mac_kid`` names the key of the key ring whose derived HMAC key made ``hash``; NULL on the
    unkeyed rows written before the cut-over (``AuditChain.keyed_from``, migration 0019).
    """

    __tablename__ = "audit_events"
    # What each index earns against the page it costs every append: migration 0023.
    __table_args__ = (
        _by_seq("subject"),
        _by_seq("event", partial=False),
        _by_seq("client_id"),
        _by_seq("ip"),
        Index("ix_audit_events_event_at", "event", "at"),
        Index("ix_audit_events_at_seq", "at", "seq"),  # dates alone (migration 0027)
    )
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
