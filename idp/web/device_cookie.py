"""Remember this browser: the cookie half of an opt-in at the second-factor step.

The cookie is signed (the app's secret key), HttpOnly, SameSite=Lax, Secure under https, and
names a server-side record (``idp.accounts.trusted_devices``) whose token digest it must match:
revoking the record kills the cookie. A remembered browser skips only the routine factor; an
explicit acr request or a sensitive operation still asks for it.
"""

from __future__ import annotations

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from idp.accounts import trusted_devices
from idp.models import User

COOKIE = "idp_device"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="idp.trusted-device")


def enabled() -> bool:
    return current_app.config["REMEMBER_DEVICE_DAYS"] > 0


def remember(user: User, response) -> None:
    """Record this browser for ``user`` and set its cookie on ``response``."""
    days = current_app.config["REMEMBER_DEVICE_DAYS"]
    label = request.user_agent.string or "Unknown browser"
    device, token = trusted_devices.create(user, label=label, days=days)
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
    return trusted_devices.is_live(user, device_id, token)
