"""``decide(ctx) -> Proceed | Interact | Fail``: the sign-in policy as data.

Modelled on node-oidc-provider's interaction policy: an ordered list of prompts, each a list of
named checks. The first prompt with a failing check decides the interaction and carries the
names of every failing check as its reasons. With ``prompt=none`` an interaction cannot happen,
so the matching OIDC error is returned instead (OIDC Core 3.1.2.6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from idp.policy import acr
from idp.policy.context import AuthContext


@dataclass(frozen=True)
class Proceed:
    """Issue the code: the session meets every requirement."""

    acr: str
    amr: tuple[str, ...]
    auth_time: int


@dataclass(frozen=True)
class Interact:
    """Ask the user: ``prompt`` names the interaction, ``reasons`` the failing checks."""

    prompt: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Fail:
    """End the request with an OAuth/OIDC error sent back to the client."""

    error: str
    description: str


Check = Callable[[AuthContext], bool]  # True means the check fails: something is missing


def _no_session(ctx: AuthContext) -> bool:
    return ctx.user_id is None or not ctx.events


def _login_prompt(ctx: AuthContext) -> bool:
    """prompt=login: re-authenticate unless it happened during this very request."""
    return "login" in ctx.prompt and not ctx.reauthenticated


def _max_age(ctx: AuthContext) -> bool:
    """max_age: the last authentication is older than the client accepts (OIDC Core 3.1.2.1).

    Signing in for this very request meets any max_age; max_age=0 is prompt=login.
    """
    if ctx.max_age is None or ctx.auth_time is None or ctx.reauthenticated:
        return False
    return ctx.max_age == 0 or ctx.now - ctx.auth_time > ctx.max_age


ROUTINE_SECOND_FACTORS = frozenset({"totp", "passkey", "email", "sms"})


def _mfa_missing(ctx: AuthContext) -> bool:
    """A user with an active second factor uses it at every sign-in (the issue-3 policy).

    A remembered device skips this routine check, but never an explicit acr request.
    """
    if not ctx.factor_kinds & ROUTINE_SECOND_FACTORS or ctx.has_second_factor:
        return False
    requested = bool(ctx.acr_values or ctx.essential_acr)
    return not (ctx.trusted_device and not requested)


def _consent_missing(ctx: AuthContext) -> bool:
    return not ctx.first_party and not ctx.consent_granted


def _consent_prompt(ctx: AuthContext) -> bool:
    """prompt=consent: ask again, even if consent is on record, unless given for this request."""
    return "consent" in ctx.prompt and not ctx.consented_during_request


PROMPTS: tuple[tuple[str, str, tuple[tuple[str, Check], ...]], ...] = (
    (
        "login",
        "login_required",
        (("no_session", _no_session), ("login_prompt", _login_prompt), ("max_age", _max_age)),
    ),
    ("mfa", "interaction_required", (("mfa_required", _mfa_missing),)),
    (
        "consent",
        "consent_required",
        (("consent_missing", _consent_missing), ("consent_prompt", _consent_prompt)),
    ),
)


def decide(ctx: AuthContext) -> Proceed | Interact | Fail:
    """The next step of this sign-in."""
    if "none" in ctx.prompt and len(ctx.prompt) > 1:
        return Fail("invalid_request", "prompt=none cannot be combined with other values")
    for prompt, error, checks in PROMPTS:
        reasons = tuple(name for name, failing in checks if failing(ctx))
        if reasons:
            if "none" in ctx.prompt:
                return Fail(error, f"{prompt} is needed: {', '.join(reasons)}")
            return Interact(prompt, reasons)
    return _proceed(ctx)


def _proceed(ctx: AuthContext) -> Proceed | Fail:
    amr = ctx.amr
    level = acr.achieved(amr)
    unmet = [v for v in ctx.essential_acr if not acr.satisfied(v, amr)]
    if ctx.essential_acr and len(unmet) == len(ctx.essential_acr):
        return Fail(
            "unmet_authentication_requirements",
            "the requested authentication context cannot be met",
        )
    requested = ctx.essential_acr or ctx.acr_values
    for value in requested:
        if acr.satisfied(value, amr):
            level = value
            break
    assert ctx.auth_time is not None  # guaranteed by the login prompt's no_session check
    return Proceed(acr=level, amr=amr, auth_time=ctx.auth_time)


MFA_MODES = ("off", "recommended", "required")  # weakest first


def mfa_required(role_modes: frozenset[str]) -> bool:
    """Whether the strictest of a user's role modes requires a second factor.

    A user with several roles gets the strictest combination.
    """
    return "required" in role_modes
