"""Remember this device: an opt-in at the second-factor step that skips the routine factor.

The cookie is signed (the app's secret key), HttpOnly, SameSite=Lax, Secure under https, and
names a server-side ``TrustedDevice`` whose token digest it must match: revoking the record
(by the user, or by a password change) kills the cookie. A remembered device never satisfies a
step-up: an explicit acr request or a sensitive operation still asks for the factor.
"""

from __future__ import annotations

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update

from idp import audit, random_tokens
from idp.clock import now
from idp.extensions import db
from idp.models import TrustedDevice, User

COOKIE = "idp_device"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="idp.trusted-device")


def enabled() -> bool:
    return current_app.config["REMEMBER_DEVICE_DAYS"] > 0


def remember(user: User, response) -> None:
    """Create the record and set its cookie on ``response``."""
    days = current_app.config["REMEMBER_DEVICE_DAYS"]
    token = random_tokens.token(32)
    device = TrustedDevice(
        user_id=user.id,
        token_digest=random_tokens.digest(token),
        label=(request.user_agent.string or "Unknown browser")[:200],
        expires_at=now() + days * 86400,
    )
    db.session.add(device)
    db.session.flush()
    audit.record("trusted_device_added", actor=user.email, subject=user.sub, device_id=device.id)
    response.set_cookie(
        COOKIE,
        _serializer().dumps([device.id, token]),
        max_age=days * 86400,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )


def trusted(user: User) -> bool:
    """Whether this browser carries a live remembered-device cookie of ``user``."""
    raw = request.cookies.get(COOKIE)
    if not raw or not enabled():
        return False
    try:
        device_id, token = _serializer().loads(raw)
    except (BadSignature, ValueError, TypeError):
        return False
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
