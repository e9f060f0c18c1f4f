"""Remembered browsers: the server-side record that a "remember this browser" cookie names.

A record holds only the digest of the cookie's token. Revoking it (by the user, or by a
password change) kills the cookie. The cookie itself is the web layer's
(``idp.web.device_cookie``); a remembered browser never satisfies a step-up.
"""

from __future__ import annotations

from sqlalchemy import select, update

from idp import audit, random_tokens
from idp.clock import now
from idp.extensions import db
from idp.models import TrustedDevice, User


def create(user: User, *, label: str, days: int) -> tuple[TrustedDevice, str]:
    """Record a remembered browser of ``user``; returns it and its token (shown only once)."""
    token = random_tokens.token(32)
    device = TrustedDevice(
        user_id=user.id,
        token_digest=random_tokens.digest(token),
        label=label[:200],
        expires_at=now() + days * 86400,
    )
    db.session.add(device)
    db.session.flush()
    audit.record("trusted_device_added", actor=user.email, subject=user.sub, device_id=device.id)
    return device, token


def is_live(user: User, device_id: int, token: str) -> bool:
    """Whether ``device_id`` is a live record of ``user`` whose digest ``token`` matches."""
    device = db.session.get(TrustedDevice, device_id)
    live = device is not None and device.revoked_at is None and device.expires_at > now()
    return live and device.user_id == user.id and random_tokens.matches(token, device.token_digest)


def listed(user: User) -> list[TrustedDevice]:
    return list(
        db.session.execute(
            select(TrustedDevice)
            .where(
                TrustedDevice.user_id == user.id,
                TrustedDevice.revoked_at.is_(None),
                TrustedDevice.expires_at > now(),
            )
            .order_by(TrustedDevice.created_at.desc())
        ).scalars()
    )


def revoke(user: User, *, actor: str, device_id: int | None = None, reason: str) -> int:
    """Revoke one remembered device of ``user`` (or all of them); returns how many."""
    criteria = [TrustedDevice.user_id == user.id, TrustedDevice.revoked_at.is_(None)]
    if device_id is not None:
        criteria.append(TrustedDevice.id == device_id)
    count = db.session.execute(
        update(TrustedDevice).where(*criteria).values(revoked_at=now())
    ).rowcount
    if count:
        audit.record(
            "trusted_device_revoked", actor=actor, subject=user.sub, device_id=device_id,
            count=count, reason=reason,
        )  # fmt: skip
    return count
