"""``decide(ctx) -> Proceed | Interact | Fail``: the sign-in policy as data.

Modelled on node-oidc-provider's interaction policy: an ordered list of prompts (login, mfa,
enroll, consent), each a list of named checks, ``Check(name, description, fails)``. The first
prompt with a failing check decides the interaction and carries the names of every failing check
as its reasons. With ``prompt=none`` an interaction cannot happen, so the matching OIDC error is
returned instead (OIDC Core 3.1.2.6). A requested essential acr (or the client's minimum) that
the user cannot reach ends with ``unmet_authentication_requirements`` (OpenID Unmet
Authentication Requirements 1.0).

A ``Fail`` names its error by its code: the protocol layer (``idp.oauth2.errors.for_code``)
turns the code into its exception class, which this pure module cannot import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from idp.policy.amr import with_mfa
from idp.policy.context import AuthContext


@dataclass(frozen=True)
class Proceed:
    """Issue the code: the session meets every requirement."""

    acr: str
    amr: tuple[str, ...]
    auth_time: int


@dataclass(frozen=True)
class Interact:
    """Ask the user: ``prompt`` names the interaction, ``reasons`` the failing checks.

    ``kinds`` are the factor kinds that would help: for the mfa prompt, those to answer (empty
    means any); for the enroll prompt, those whose enrollment would reach a requested acr
    (empty: the policy's own enrollment, of any kind it allows, or a compliant passkey).
    """

    prompt: str
    reasons: tuple[str, ...]
    kinds: frozenset[str] = frozenset()

    @property
    def skippable(self) -> bool:
        """An enrollment the user may postpone: recommended, required within its grace, or an
        attested passkey within the grace (or under a policy without one)."""
        return self.prompt == "enroll" and not BLOCKING_ENROLLMENT & set(self.reasons)


#: The enroll prompt's checks that no "Not now" can pass.
BLOCKING_ENROLLMENT = frozenset({"enrollment_required", "passkey_upgrade_required"})


@dataclass(frozen=True)
class Fail:
    """End the request with an OAuth/OIDC error sent back to the client; ``error`` is its code."""

    error: str
    description: str


@dataclass(frozen=True)
class Check:
    """One named condition of a prompt, as node-oidc-provider's ``Check(name, description, fn)``.

    ``name`` is the reason an ``Interact`` reports (pages and tests use it); ``description``
    says in one line what is missing when ``fails(ctx)`` is True.
    """

    name: str
    description: str
    fails: Callable[[AuthContext], bool]


@dataclass(frozen=True)
class Prompt:
    """A named group of checks, and the error code ``prompt=none`` gets when one of them fails;
    ``interactive`` False means the user cannot supply it."""

    name: str
    error: str
    checks: tuple[Check, ...]
    interactive: bool = True


# --- login ---------------------------------------------------------------------------------


def _no_session(ctx: AuthContext) -> bool:
    """A passwordless passkey sign-in whose elevation expired leaves no counted event."""
    return ctx.user_id is None or not ctx.counted_events


def _login_prompt(ctx: AuthContext) -> bool:
    """Only a sign-in during this very request meets prompt=login (OIDC Core 3.1.2.1)."""
    return "login" in ctx.prompt and not ctx.reauthenticated


def _max_age(ctx: AuthContext) -> bool:
    """OIDC Core 3.1.2.1. Signing in for this very request meets any max_age; max_age=0 is
    prompt=login."""
    if ctx.max_age is None or ctx.auth_time is None or ctx.reauthenticated:
        return False
    return ctx.max_age == 0 or ctx.now - ctx.auth_time > ctx.max_age


def _operation_reauth(ctx: AuthContext) -> bool:
    if ctx.operation is None or ctx.routine_factors:
        return False
    return ctx.auth_time is None or ctx.auth_time < ctx.now - ctx.operation_window


LOGIN_PROMPT = Prompt(
    "login",
    "login_required",
    (
        Check(
            "no_session", "the End-User is not signed in (or no factor still counts)", _no_session
        ),
        Check("login_prompt", "prompt=login asks for a sign-in during this request", _login_prompt),
        Check("max_age", "the last sign-in is older than the request's max_age", _max_age),
        Check(
            "operation_reauth",
            "a sensitive operation by a user without a second factor needs a recent sign-in",
            _operation_reauth,
        ),
    ),
)


# --- mfa -----------------------------------------------------------------------------------


def _mfa_missing(ctx: AuthContext) -> bool:
    """The factor used must be one the policy allows, when the user has one. A remembered
    browser skips this routine check when the policy allows it; explicit acr requests are the
    acr check's business and are never met by a remembered browser."""
    if ctx.operation is not None or not ctx.routine_factors or ctx.has_second_factor:
        return False
    return not (ctx.trusted_device and ctx.policy.remember_device)


def _acr_step_up(ctx: AuthContext) -> bool:
    return ctx.operation is None and bool(_step_up_targets(ctx))


def _met(ctx: AuthContext, values: tuple[str, ...]) -> bool:
    """The session already reaches one of these acr values."""
    return any(ctx.levels.satisfied(v, ctx.amr) for v in values)


def _step_up_targets(ctx: AuthContext) -> tuple[str, ...]:
    """The requested levels to step up to: per group (essential, minimum, voluntary), the
    first reachable value when no value of the group is met yet."""
    targets = []
    for group in _acr_groups(ctx):
        if _met(ctx, group):
            continue
        reachable = [v for v in group if ctx.levels.reachable(v, _amr_options(ctx))]
        targets += reachable[:1]
    return tuple(targets)


def _acr_groups(ctx: AuthContext) -> tuple[tuple[str, ...], ...]:
    voluntary = ctx.acr_values or (() if ctx.essential_acr else ctx.client_default_acr)
    minimum = (ctx.client_minimum_acr,) if ctx.client_minimum_acr else ()
    return tuple(g for g in (ctx.essential_acr, minimum, voluntary) if g)


def _amr_options(ctx: AuthContext) -> tuple[frozenset[str], ...]:
    """What the second-factor step can add to the session: the user's allowed factors."""
    return (frozenset(ctx.amr), *(f.amr for f in ctx.allowed_factors))


def _enrollment_step_up(ctx: AuthContext) -> bool:
    """Adding a factor is a sensitive operation that needs the user's second factor: a user who
    has one (a remembered browser skipped it) answers it before the ``acr_enrollment`` offer,
    not on a detour through the account pages."""
    if ctx.operation is not None or not ctx.routine_factors or ctx.has_second_factor:
        return False
    return bool(_enrollment_targets(ctx))


def _operation_step_up(ctx: AuthContext) -> bool:
    """A remembered browser never counts for a sensitive operation."""
    if ctx.operation is None or not ctx.routine_factors:
        return False
    oldest = ctx.now - ctx.operation_window
    return not any(e.is_second_factor and e.at >= oldest for e in ctx.events)


MFA_PROMPT = Prompt(
    "mfa",
    "interaction_required",
    (
        Check("mfa_required", "a user with a second factor uses it at every sign-in", _mfa_missing),
        Check(
            "acr_values",
            "the session lacks a requested acr that the user's factors can reach",
            _acr_step_up,
        ),
        Check(
            "enrollment_step_up",
            "adding a factor for a requested acr needs the user's own second factor first",
            _enrollment_step_up,
        ),
        Check(
            "step_up",
            "a sensitive operation needs a second factor within its window",
            _operation_step_up,
        ),
    ),
)


# --- enroll --------------------------------------------------------------------------------


def _needs_enrollment(ctx: AuthContext, mode: str) -> bool:
    return ctx.operation is None and ctx.policy.mode == mode and not ctx.usable_factors


def _enrollment_required(ctx: AuthContext) -> bool:
    return _needs_enrollment(ctx, "required") and not (ctx.grace_left or ctx.postponed)


def _enrollment_grace(ctx: AuthContext) -> bool:
    """Asked once per sign-in session."""
    return _needs_enrollment(ctx, "required") and ctx.grace_left and not ctx.enrollment_skipped


def _enrollment_recommended(ctx: AuthContext) -> bool:
    return _needs_enrollment(ctx, "recommended") and not ctx.enrollment_skipped


def _acr_enrollment(ctx: AuthContext) -> bool:
    return bool(_enrollment_targets(ctx))


def _passkey_upgrade_required(ctx: AuthContext) -> bool:
    """Issue 14: a policy with a grace treats a missing attested passkey as it treats a
    missing second factor: postponed within the grace, then required."""
    if ctx.operation is not None or not ctx.passkey_upgrade_due or not ctx.has_grace:
        return False
    return not (ctx.grace_left or ctx.postponed)


def _passkey_upgrade(ctx: AuthContext) -> bool:
    """Asked once per sign-in session, after the second factor. Without a grace the user may
    always continue: their passkey still works, at the lower level its amr gives (``swk``),
    so an application that needs ``phrh`` still steps up or refuses; they are asked again at
    the next sign-in. With prompt=none nothing can be asked, and nothing is owed yet."""
    if ctx.operation is not None or not ctx.passkey_upgrade_due:
        return False
    if ctx.enrollment_skipped or "none" in ctx.prompt:
        return False
    return not ctx.has_grace or ctx.grace_left


def _enrollment_targets(ctx: AuthContext) -> tuple[str, ...]:
    """The requested levels an enrollment would reach: per group (essential, minimum,
    voluntary) not met and out of reach of the user's own factors, the first value that adding
    an allowed kind would reach. Offered once per sign-in session, like a recommendation
    (declining leaves the level reached: a voluntary request proceeds with it, an essential one
    or a minimum ends unmet); never with prompt=none, where an offer cannot be made and the
    request is decided as without it."""
    if ctx.operation is not None or ctx.enrollment_skipped or "none" in ctx.prompt:
        return ()
    have, addable = _amr_options(ctx), ctx.addable_factors
    targets = []
    for group in _acr_groups(ctx):
        if _met(ctx, group) or any(ctx.levels.reachable(v, have) for v in group):
            continue
        targets += [
            v for v in group if any(ctx.levels.reachable(v, (*have, f.amr)) for f in addable)
        ][:1]
    return tuple(targets)


def _enrollment_kinds(ctx: AuthContext) -> frozenset[str]:
    """The kinds the enrollment offer names: those reaching every target, else any target."""
    targets, have = _enrollment_targets(ctx), _amr_options(ctx)
    reach = {
        f.kind: sum(ctx.levels.reachable(t, (*have, f.amr)) for t in targets)
        for f in ctx.addable_factors
    }
    every = {kind for kind, count in reach.items() if targets and count == len(targets)}
    return frozenset(every or {kind for kind, count in reach.items() if count})


ENROLL_PROMPT = Prompt(
    "enroll",
    "interaction_required",
    (
        Check(
            "enrollment_required",
            "the policy requires a usable second factor, and no grace is left to postpone it",
            _enrollment_required,
        ),
        Check(
            "enrollment_grace",
            "the policy requires a usable second factor; the user may still postpone it",
            _enrollment_grace,
        ),
        Check(
            "enrollment_recommended",
            "the policy recommends a usable second factor the user has not enrolled",
            _enrollment_recommended,
        ),
        Check(
            "acr_enrollment",
            "a requested acr is beyond the user's factors, but a kind they may add now reaches it",
            _acr_enrollment,
        ),
        Check(
            "passkey_upgrade_required",
            "the policy requires an attested passkey the user lacks, and no grace is left",
            _passkey_upgrade_required,
        ),
        Check(
            "passkey_upgrade",
            "the policy requires an attested passkey the user lacks; they may still postpone it",
            _passkey_upgrade,
        ),
    ),
)


# --- consent -------------------------------------------------------------------------------


def _consent_missing(ctx: AuthContext) -> bool:
    return ctx.operation is None and not ctx.first_party and not ctx.consent_granted


def _consent_prompt(ctx: AuthContext) -> bool:
    """Even consent on record does not meet prompt=consent (OIDC Core 3.1.2.1)."""
    return "consent" in ctx.prompt and not ctx.consented_during_request


CONSENT_PROMPT = Prompt(
    "consent",
    "consent_required",
    (
        Check(
            "consent_missing",
            "a third-party client has no consent on record for the requested scopes",
            _consent_missing,
        ),
        Check(
            "consent_prompt", "prompt=consent asks for consent during this request", _consent_prompt
        ),
    ),
)


# --- acr that cannot be reached (checked last: every interaction has had its chance) ---------


def _essential_unmet(ctx: AuthContext) -> bool:
    return bool(ctx.essential_acr) and not _met(ctx, ctx.essential_acr)


def _minimum_unmet(ctx: AuthContext) -> bool:
    minimum = ctx.client_minimum_acr
    return bool(minimum) and not _met(ctx, (minimum,))


ACR_PROMPT = Prompt(
    "acr",
    "unmet_authentication_requirements",
    (
        Check(
            "essential_acr",
            "the session does not meet an essential acr of the claims parameter",
            _essential_unmet,
        ),
        Check("minimum_acr", "the session does not meet the client's minimum acr", _minimum_unmet),
    ),
    interactive=False,
)

#: The policy: the first of these prompts with a failing check decides.
PROMPTS: tuple[Prompt, ...] = (LOGIN_PROMPT, MFA_PROMPT, ENROLL_PROMPT, CONSENT_PROMPT, ACR_PROMPT)


def failing_checks(ctx: AuthContext) -> tuple[tuple[Prompt, tuple[str, ...]], ...]:
    """Every prompt with failing checks, in order, with the names of those checks."""
    failing = []
    for prompt in PROMPTS:
        reasons = tuple(check.name for check in prompt.checks if check.fails(ctx))
        if reasons:
            failing.append((prompt, reasons))
    return tuple(failing)


def decide(ctx: AuthContext) -> Proceed | Interact | Fail:
    """The next step of this sign-in (or of a sensitive operation, when ``ctx.operation``)."""
    if "none" in ctx.prompt and len(ctx.prompt) > 1:
        return Fail("invalid_request", "prompt=none cannot be combined with other values")
    failing = failing_checks(ctx)
    if not failing:
        assert ctx.auth_time is not None  # guaranteed by the login prompt's no_session check
        return Proceed(acr=_reported_acr(ctx), amr=ctx.amr, auth_time=ctx.auth_time)
    prompt, reasons = failing[0]
    if not prompt.interactive:
        return Fail(prompt.error, "the requested authentication context cannot be met")
    if "none" in ctx.prompt:
        return Fail(prompt.error, f"{prompt.name} is needed: {', '.join(reasons)}")
    return Interact(prompt.name, reasons, _kinds(ctx, prompt.name))


def _kinds(ctx: AuthContext, prompt: str) -> frozenset[str]:
    if prompt == "mfa":
        return _helpful_kinds(ctx)
    return _enrollment_kinds(ctx) if prompt == "enroll" else frozenset()


def _helpful_kinds(ctx: AuthContext) -> frozenset[str]:
    """The factor kinds the second-factor step should offer: those reaching the requested
    levels, else those the routine check accepts (allowed kinds, or the user's own when none
    is allowed), with backup codes for recovery. Empty means any."""
    targets = _step_up_targets(ctx) if ctx.operation is None else ()
    if targets:
        return frozenset(
            f.kind
            for f in ctx.allowed_factors
            if all(ctx.levels.satisfied(t, with_mfa(set(ctx.amr) | f.amr)) for t in targets)
        )
    if ctx.operation is not None:
        return frozenset()
    routine = ctx.usable_factors or ctx.routine_factors
    recovery = {f.kind for f in ctx.factors if f.kind == "backup_codes"}
    return frozenset({f.kind for f in routine} | recovery)


def _reported_acr(ctx: AuthContext) -> str:
    """The requested value that was met (as the client spelled it), else the level reached.

    A requested value weaker than the client's minimum is not reported: the minimum was met too.
    """
    amr = ctx.amr
    floor = ctx.levels.rank(ctx.client_minimum_acr or "") or 0
    requested = ctx.essential_acr or ctx.acr_values or ctx.client_default_acr
    for value in requested:
        rank = ctx.levels.rank(value)
        if rank is not None and rank >= floor and ctx.levels.satisfied(value, amr):
            return value
    return ctx.levels.achieved(amr)
