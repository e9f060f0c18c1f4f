"""Who may open the admin console, and what they must have shown first.

Every page: a full sign-in (else sign in first), the ``admin`` or ``auditor`` role (else a
friendly 403), and a second factor in this sign-in session that is phishing-resistant: a passkey
(the ``phr`` acr level), or with ``IDP_ADMIN_REQUIRE_PASSKEY=false`` any second factor. Someone
short of it is sent to answer their passkey (or any second factor); someone with none is told to
add one. Every POST: the ``admin`` role (an auditor only reads) and a second factor within the
``admin`` sensitive operation's window (``step_up``); CSRF is checked for the whole app.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from idp.accounts import admin_view
from idp.factors import kinds, registry
from idp.models import LoginSession, User
from idp.policy import acr
from idp.policy.amr import with_mfa
from idp.views.signin.flow import sign_in_first, step_up
from idp.web import sessions

#: The ``next`` name that brings a sign-in or second factor back to the console.
BACK = "admin"
PASSKEY = "passkey"


def gate() -> tuple[User | None, object]:
    """The console's user, or ``None`` and the response that stops the request."""
    user = sessions.signed_in_user()
    if user is None:
        return None, sign_in_first(BACK)
    roles = set(admin_view.role_names(user))
    if not roles & admin_view.CONSOLE_ROLES:
        return None, _refused("Your account has no access to the admin console.")
    missing = _second_factor_missing(user, sessions.current())
    if missing is not None:
        return None, missing
    if request.method == "POST":
        if admin_view.ADMIN not in roles:
            return None, _refused("The auditor role reads the admin console; it changes nothing.")
        refused = step_up(user, "admin", BACK)
        if refused is not None:
            return None, refused
    return user, None


def may_change(user: User) -> bool:
    """Whether the pages offer ``user`` their forms (auditors see none)."""
    return admin_view.ADMIN in admin_view.role_names(user)


def phishing_resistant(login_session: LoginSession) -> bool:
    """The session's sign-in reached the ``phr`` level: a passkey as one of its factors."""
    amr = with_mfa({v for event in login_session.events for v in event.amr})
    levels = current_app.config["ACR_LEVELS"]
    if levels.rank(acr.PHR) is None:  # an operator's own levels without phr: the default's
        levels = acr.DEFAULT
    return levels.satisfied(acr.PHR, amr)


def _second_factor_missing(user: User, login_session: LoginSession):
    """``None`` when the session's second factor is what the console needs, else where to go."""
    if current_app.config["ADMIN_REQUIRE_PASSKEY"]:
        if phishing_resistant(login_session):
            return None
        passkeys = [f for f in registry.factors(user) if f.kind == PASSKEY]
        if not passkeys:
            return _add_factor(kinds.of(PASSKEY).enroll_page, "a passkey")
        flash("The admin console needs you to confirm it is you with your passkey.")
        page = registry.kind_of(passkeys[0]).signin_page
        return redirect(url_for(page, factor_id=passkeys[0].id, next=BACK), code=303)
    if "mfa" in with_mfa({v for event in login_session.events for v in event.amr}):
        return None
    if not registry.routine_factors(user):
        return _add_factor("security.index", "a second sign-in method")
    flash("The admin console needs you to confirm it is you with your second factor.")
    return redirect(url_for("mfa.choose", next=BACK), code=303)


def _add_factor(endpoint: str, what: str):
    body = render_template("admin/needs_factor.html", what=what, add_url=url_for(endpoint))
    return body, 403


def _refused(reason: str):
    return render_template("admin/forbidden.html", reason=reason), 403
