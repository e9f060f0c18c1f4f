"""What the second-factor pages share: the step's state, its answer, and what they offer.

Each page (typed codes, passkeys, delivered codes) finds the sign-in session, its user and the
factor asked for; hands the request's answer to ``idp.factors.answer``; offers the user's other
usable factors and "remember this browser"; and says when a back-off ends.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import UTC, datetime
from typing import Any

from flask import abort, current_app, request

from idp.accounts import policies
from idp.clock import now
from idp.extensions import db
from idp.factors import registry
from idp.factors.answer import Attempt
from idp.factors.base import FactorError
from idp.models import Factor, LoginSession, User
from idp.web import device_cookie, sessions


def second_factor_step(
    factor_id: int, kinds: Container[str] | None = None
) -> tuple[LoginSession, User, Factor] | None:
    """The sign-in session, its user and the user's active factor for a second-factor page.

    ``None`` without a sign-in session; 404 for a factor that is not the user's, not active,
    or (with ``kinds``) not of a kind this page answers.
    """
    login_session = sessions.current()
    if login_session is None:
        return None
    user = db.session.get(User, login_session.user_id)
    factor = registry.owned(user, factor_id)
    if factor is None or (kinds is not None and factor.kind not in kinds):
        abort(404)
    return login_session, user, factor


def attempt(
    login_session: LoginSession, user: User, factor: Factor, challenge_id: str, response: Any
) -> Attempt:
    """The request's answer to a factor's challenge, for ``idp.factors.answer``."""
    return Attempt(user, login_session, factor, challenge_id, response, request.remote_addr)


def remember_days(user: User) -> int:
    """How long "remember this browser" lasts for this user; 0 hides the box (turned off, or
    the user's policy does not let a remembered browser skip the second factor)."""
    if not device_cookie.enabled() or not policies.inputs(user).effective().remember_device:
        return 0
    return current_app.config["REMEMBER_DEVICE_DAYS"]


def remember_browser(user: User, response, remember: bool):
    """After a passed second factor: remember this browser if the user asked and may."""
    if remember and remember_days(user):
        device_cookie.remember(user, response)
    return response


def usable_factors(user: User, next_key: str | None) -> list[Factor]:
    """The user's active factors that can meet what the waiting request asks (most recent
    first); every factor when it asks for no particular level."""
    wanted = sessions.wanted_kinds(next_key)
    return [f for f in registry.factors(user) if not wanted or f.kind in wanted]


def other_factors(user: User, factor: Factor, next_key: str | None) -> list[Factor]:
    """The "use another method" list of a second-factor page."""
    return [f for f in usable_factors(user, next_key) if f.id != factor.id]


def try_again_at(error: FactorError | None, factor: Factor | None) -> str | None:
    """When the user may try again, for the page: after a back-off refusal, a send limit, or
    the failure that started a back-off."""
    until = getattr(error, "until", None)
    if until is None and factor is not None:
        until = factor.blocked_until
    if until is None or until <= now():
        return None
    return datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S UTC")
