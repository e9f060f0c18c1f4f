"""Where an interaction page sends the browser: on to the waiting request or an account page,
or first to what a sensitive operation still needs."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for

from idp.accounts import policies
from idp.factors import registry
from idp.models import User
from idp.policy import Interact, Proceed
from idp.web import sessions

#: Account pages (and the admin console) that may ask for a (re-)authentication and want the
#: browser back afterwards.
ACCOUNT_PAGES = {
    "account": "account.index",
    "security": "security.index",
    "admin": "admin.index",
}
#: What each sensitive operation is, for the page that asks to sign in again first.
OPERATION_TEXT = {
    "add_factor": "adding a sign-in method",
    "admin": "changing anything in the admin console",
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


def adding_factor(kind: str) -> tuple[User | None, Any]:
    """The signed-in user if they may add a factor of ``kind`` now, else ``None`` and the
    response: a refusal page when their policy does not allow the kind (``kind_refusal``), or
    the redirect that gets what the ``add_factor`` operation is missing. The policy is asked
    first, so nobody proves a second factor only to be refused."""
    user = sessions.signed_in_user()
    if user is None:
        return None, sign_in_first("security")
    reason = kind_refusal(user, kind)
    if reason is not None:
        return None, (render_template("factor_not_allowed.html", reason=reason), 403)
    refused = step_up(user, "add_factor", "security")
    return (None, refused) if refused is not None else (user, None)


def kind_refusal(user: User, kind: str) -> str | None:
    """Why ``user`` may not add a factor of ``kind``, for the page; ``None`` when the user's
    policy allows it. A factor of a kind the policy does not allow never counts for it, so a
    required enrollment would keep coming back after adding one."""
    if policies.inputs(user).effective().allows(kind):
        return None
    return (
        f"Your organisation does not allow this sign-in method for your account: "
        f"{registry.LABELS[kind]}. Choose one of the methods your security page offers."
    )


def after_enrollment():
    """Where a finished enrollment goes: the sign-in that asked for it, or the security page."""
    key = sessions.take_enrollment_request()
    if sessions.pending_query(key) is not None:
        return continue_to(key)
    return redirect(url_for("security.index"), code=303)
