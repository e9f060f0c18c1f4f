"""Single-use links sent by mail (password reset, email change): the secret goes in the link,
only its SHA-256 digest is stored, and it is consumed by one conditional UPDATE, so two clicks
racing each other cannot both succeed."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select, update

from idp import random_tokens
from idp.clock import now
from idp.extensions import db
from idp.models.user import EmailChange, PasswordReset

Link = TypeVar("Link", PasswordReset, EmailChange)


def issue(row: Link, ttl: int) -> str:
    """Store ``row`` (a new link record) with a fresh secret's digest; return the secret."""
    secret = random_tokens.token(32)
    row.digest, row.expires_at = random_tokens.digest(secret), now() + ttl
    db.session.add(row)
    return secret


def peek(model: type[Link], secret: str) -> Link | None:
    """The link record if the secret is known, unused and unexpired (nothing is consumed)."""
    row = db.session.execute(
        select(model).where(model.digest == random_tokens.digest(secret))
    ).scalar()
    return row if row is not None and row.used_at is None and row.expires_at > now() else None


def consume(model: type[Link], secret: str) -> Link | None:
    """Use the link up atomically; ``None`` if unknown, used (also just now) or expired."""
    row = peek(model, secret)
    if row is None:
        return None
    consumed = db.session.execute(
        update(model)
        .where(model.id == row.id, model.used_at.is_(None))
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    )
    return row if consumed.rowcount == 1 else None
