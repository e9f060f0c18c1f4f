"""Where an interaction page sends the browser when it is done."""

from __future__ import annotations

from collections.abc import Container
from datetime import UTC, datetime

from flask import abort, redirect, url_for

from idp import audit, devices, sessions
from idp.clock import now
from idp.extensions import db
from idp.factors import registry, throttle
from idp.factors.base import FactorError, Verification
from idp.models import Factor, LoginSession, User

#: Account pages that may ask for a (re-)authentication and want the browser back afterwards.
ACCOUNT_PAGES = {"account": "account.index", "security": "security.index"}


def continue_to(next_key: str | None):
    """Back to the waiting authorization request, to an account page, or to the account."""
    query = sessions.pending_query(next_key)
    if query is not None:
        return redirect(url_for("oauth.authorize") + "?" + query, code=303)
    return redirect(url_for(ACCOUNT_PAGES.get(next_key or "", "account.index")), code=303)


def sign_in_first(page: str, code: int = 302):
    """An account page for a visitor who is not fully signed in: finish signing in, come back.

    With a password-only session that still owes a second factor, go to that step; otherwise
    to the sign-in page.
    """
    target = "mfa.choose" if sessions.current() is not None else "auth.login"
    return redirect(url_for(target, next=page), code=code)


def second_factor_passed(
    login_session: LoginSession, user: User, result: Verification, response, remember: bool
):
    """Record a passed second factor on the session; remember the browser if asked.

    The caller commits. A backup code is a successful recovery: it lifts factor locks.
    """
    sessions.add_event(login_session, result.method, list(result.amr))
    audit.record("second_factor_passed", actor=user.email, subject=user.sub, method=result.method)
    if result.method == "backup_code":
        throttle.unlock_all(user.id, actor=user.email, subject=user.sub)
    if remember and devices.enabled():
        devices.remember(user, response)
    return response


def try_again_at(error: FactorError | None, factor: Factor | None) -> str | None:
    """When the user may try again, for the page: after a back-off refusal, a send limit, or
    the failure that started a back-off."""
    until = getattr(error, "until", None)
    if until is None and factor is not None:
        until = factor.blocked_until
    if until is None or until <= now():
        return None
    return datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S UTC")


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
