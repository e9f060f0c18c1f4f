"""What the policy engine needs to know about a signed-in user, gathered from storage.

``decide`` is pure; this module reads the user's factors, remembered browser, stored policy and
enrollment grace, and the sign-in session's events, for the authorization endpoint and for the
provider's own account pages (which use the same rules, and its sensitive operations).
"""

from __future__ import annotations

from flask import current_app, session

from idp.accounts import policies
from idp.clock import now
from idp.factors import registry
from idp.models import LoginSession, User
from idp.policy import AuthContext, AuthEvent, FactorOption, Fail, Interact, Proceed, decide
from idp.web import device_cookie

#: Cookie-session flag: the user postponed enrollment in this sign-in session (a new sign-in
#: clears the whole cookie session, so the next sign-in asks again).
ENROLLMENT_SKIPPED = "enroll_skipped"


def events(login_session: LoginSession | None) -> tuple[AuthEvent, ...]:
    if login_session is None:
        return ()
    return tuple(AuthEvent(e.method, tuple(e.amr), e.at) for e in login_session.events)


def facts(user: User) -> dict:
    """``AuthContext`` fields about ``user`` and this browser (keyword arguments)."""
    stored = policies.inputs(user)
    return {
        "user_id": user.sub,
        "roles": frozenset(r.name for r in user.roles),
        "factors": tuple(FactorOption(f.kind, registry.amr_of(f)) for f in registry.factors(user)),
        "trusted_device": device_cookie.trusted(user),
        "default_policy": stored.default,
        "role_policies": stored.roles,
        "override": stored.override,
        "grace_started_at": user.grace_started_at,
        "grace_skips": user.grace_skips,
        "enrollment_skipped": bool(session.get(ENROLLMENT_SKIPPED)),
        "elevation_lifetime": current_app.config["ELEVATION_LIFETIME"],
        "levels": current_app.config["ACR_LEVELS"],
    }


def account_decision(
    user: User, login_session: LoginSession, operation: str | None = None
) -> Proceed | Interact | Fail:
    """The policy's answer for the provider's own pages, or a sensitive ``operation`` there."""
    config = current_app.config
    window = config["STEPUP_WINDOWS"].get(operation or "", config["STEPUP_WINDOW"])
    ctx = AuthContext(
        now=now(),
        events=events(login_session),
        first_party=True,
        operation=operation,
        operation_window=window,
        **facts(user),
    )
    return decide(ctx)


def fully_signed_in(user: User, login_session: LoginSession) -> bool:
    """The session has what the policy asks at sign-in (enrollment is done on these pages)."""
    decision = account_decision(user, login_session)
    return isinstance(decision, Proceed) or (
        isinstance(decision, Interact) and decision.prompt == "enroll"
    )
