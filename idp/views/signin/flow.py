"""Where an interaction page sends the browser when it is done."""

from __future__ import annotations

from collections.abc import Container
from datetime import UTC, datetime
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for

from idp.accounts import policies
from idp.clock import now
from idp.extensions import db
from idp.factors import registry
from idp.factors.answer import Attempt
from idp.factors.base import FactorError
from idp.models import Factor, LoginSession, User
from idp.policy import Interact, Proceed
from idp.web import device_cookie, sessions

#: Account pages that may ask for a (re-)authentication and want the browser back afterwards.
ACCOUNT_PAGES = {"account": "account.index", "security": "security.index"}
#: What each sensitive operation is, for the page that asks to sign in again first.
OPERATION_TEXT = {
    "add_factor": "adding a sign-in method",
    "change_email": "changing your email",
    "change_password": "changing your password",
    "regenerate_backup_codes": "making new backup codes",
    "revoke_devices": "forgetting remembered browsers",
    "remove_factor": "removing a sign-in method",
}


def continue_to(next_key: str | None):
    """Back to the waiting authorization request, to an account page, or to the account."""
    waiting = pending_authorize_url(next_key)
    if waiting is not None:
        return redirect(waiting, code=303)
    return redirect(url_for(ACCOUNT_PAGES.get(next_key or "", "account.index")), code=303)


def pending_authorize_url(next_key: str | None) -> str | None:
    """The waiting authorization request's URL, if any (also a template global: the cancel
    button of the second-factor and enrollment pages)."""
    query = sessions.pending_query(next_key)
    return url_for("oauth.authorize") + "?" + query if query is not None else None


def sign_in_first(page: str, code: int = 302):
    """An account page for a visitor who is not fully signed in: finish signing in, come back.

    With a password-only session that still owes a second factor, go to that step; otherwise
    to the sign-in page.
    """
    target = "mfa.choose" if sessions.current() is not None else "auth.login"
    return redirect(url_for(target, next=page), code=code)


def may(user: User, operation: str) -> bool:
    """Whether this session may do a sensitive ``operation`` now (see ``step_up``)."""
    decision = sessions.account_decision(user, operation)
    return isinstance(decision, Proceed)


def step_up(user: User, operation: str, back: str):
    """``None`` when this session may do ``operation`` now; else the redirect that gets what is
    missing: a fresh second factor, or (without one) a fresh sign-in. ``back`` is the account
    page to return to. A remembered browser never counts (issue: sensitive operations)."""
    decision = sessions.account_decision(user, operation)
    if isinstance(decision, Proceed):
        return None
    if isinstance(decision, Interact) and decision.prompt == "mfa":
        flash("To change this, confirm it is you with your second factor first.")
        return redirect(url_for("mfa.choose", next=back), code=303)
    flash(f"For your security, sign in again before {OPERATION_TEXT.get(operation, 'this')}.")
    return redirect(url_for("auth.login", next=back), code=303)


def remember_days(user: User) -> int:
    """How long "remember this browser" lasts for this user; 0 hides the box (turned off, or
    the user's policy does not let a remembered browser skip the second factor)."""
    if not device_cookie.enabled() or not policies.inputs(user).effective().remember_device:
        return 0
    return current_app.config["REMEMBER_DEVICE_DAYS"]


def attempt(
    login_session: LoginSession, user: User, factor: Factor, challenge_id: str, response: Any
) -> Attempt:
    """The request's answer to a factor's challenge, for ``idp.factors.answer``."""
    return Attempt(user, login_session, factor, challenge_id, response, request.remote_addr)


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


def after_enrollment():
    """Where a finished enrollment goes: the sign-in that asked for it, or the security page."""
    key = sessions.take_enrollment_request()
    if sessions.pending_query(key) is not None:
        return continue_to(key)
    return redirect(url_for("security.index"), code=303)


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
