"""What the policy engine needs to know about a signed-in user, gathered from storage.

``decide`` is pure; this module reads the user's factors, stored policy and enrollment grace,
and the sign-in session's events, for the authorization endpoint and for the provider's own
account pages (which use the same rules, and its sensitive operations). What only the browser
knows (a remembered-device cookie, a postponed enrollment) is read by the web layer and handed
in as a ``Browser``: accounts read no cookie.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from flask import current_app

from idp.accounts import operation_windows, policies
from idp.clock import now
from idp.factors import attestation, kinds, passkey, registry
from idp.models import Factor, LoginSession, User
from idp.policy import AuthContext, AuthEvent, FactorOption, Fail, Interact, Proceed, decide
from idp.policy.acr import Levels
from idp.policy.rules import MfaPolicy, Override

#: The kinds a user can add on a page of their own, with the amr adding one gives at best (a
#: passkey's declared ``hwk``: a synced one gives ``swk``).
ENROLLABLE = tuple(FactorOption(k.name, k.amr) for k in kinds.declared() if k.enroll_page)


@dataclass(frozen=True)
class Browser:
    """What this browser says about the user (``idp.web.sessions.browser`` reads it)."""

    trusted_device: bool = False
    enrollment_skipped: bool = False


@dataclass(frozen=True)
class UserFacts:
    """The ``AuthContext`` fields about one user and this browser."""

    user_id: str
    roles: frozenset[str]
    factors: tuple[FactorOption, ...]
    enrollable: tuple[FactorOption, ...]
    trusted_device: bool
    default_policy: MfaPolicy
    role_policies: tuple[MfaPolicy, ...]
    override: Override | None
    grace_started_at: int | None
    grace_skips: int
    attested_passkey_missing: bool
    enrollment_skipped: bool
    elevation_lifetime: int
    levels: Levels

    def context_fields(self) -> dict[str, Any]:
        """These facts as ``AuthContext`` keyword arguments (shallow: no copies)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def events(login_session: LoginSession | None) -> tuple[AuthEvent, ...]:
    if login_session is None:
        return ()
    return tuple(AuthEvent(e.method, tuple(e.amr), e.at) for e in login_session.events)


def facts(user: User, browser: Browser) -> UserFacts:
    """What the policy needs about ``user`` and the browser they use."""
    stored, active = policies.inputs(user), registry.factors(user)
    return UserFacts(
        user_id=user.sub,
        roles=frozenset(r.name for r in user.roles),
        factors=tuple(FactorOption(f.kind, registry.amr_of(f)) for f in active),
        enrollable=ENROLLABLE,
        trusted_device=browser.trusted_device,
        default_policy=stored.default,
        role_policies=stored.roles,
        override=stored.override,
        grace_started_at=user.grace_started_at,
        grace_skips=user.grace_skips,
        attested_passkey_missing=_attested_passkey_missing(active),
        enrollment_skipped=browser.enrollment_skipped,
        elevation_lifetime=current_app.config["ELEVATION_LIFETIME"],
        levels=current_app.config["ACR_LEVELS"],
    )


def _attested_passkey_missing(active: list[Factor]) -> bool:
    """The user holds passkeys, and none is attested by a model that is still allowed."""
    keys = [f for f in active if f.kind == passkey.NAME]
    return bool(keys) and not any(attestation.compliant(f) for f in keys)


def account_decision(
    user: User, login_session: LoginSession, browser: Browser, operation: str | None = None
) -> Proceed | Interact | Fail:
    """The policy's answer for the provider's own pages, or a sensitive ``operation`` there."""
    ctx = AuthContext(
        now=now(),
        events=events(login_session),
        first_party=True,
        operation=operation,
        operation_window=operation_windows.window(operation),
        **facts(user, browser).context_fields(),
    )
    return decide(ctx)


def fully_signed_in(user: User, login_session: LoginSession, browser: Browser) -> bool:
    """The session has what the policy asks at sign-in (enrollment is done on these pages)."""
    decision = account_decision(user, login_session, browser)
    return isinstance(decision, Proceed) or (
        isinstance(decision, Interact) and decision.prompt == "enroll"
    )
