"""Values that cross from the protocol layer into the policy: what is known about a sign-in."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from idp.policy import acr, rules
from idp.policy.amr import with_mfa

#: Second-factor kinds used at every sign-in; backup codes are recovery, not routine.
ROUTINE_SECOND_FACTORS = frozenset(rules.FACTOR_KINDS)
#: The factor kind behind each authentication event method (the session records methods).
METHOD_KIND = {
    "totp": "totp",
    "passkey": "passkey",
    "email_otp": "email",
    "sms_otp": "sms",
    "backup_code": "backup_codes",
}


@dataclass(frozen=True)
class AuthEvent:
    """One interactive authentication in the session: its method, RFC 8176 amr values, time."""

    method: str
    amr: tuple[str, ...]
    at: int

    @property
    def is_second_factor(self) -> bool:
        return self.method != "pwd"

    @property
    def kind(self) -> str | None:
        """The factor kind of a second-factor event (None for a password)."""
        return METHOD_KIND.get(self.method)


@dataclass(frozen=True)
class FactorOption:
    """One of the user's active factors: its kind and the amr values answering it would add."""

    kind: str
    amr: frozenset[str]


@dataclass(frozen=True)
class AuthContext:
    """Everything ``decide`` may look at, gathered by the caller.

    ``reauthenticated`` says the user authenticated interactively while this authorization
    request was waiting: that, and only that, satisfies ``prompt=login`` (OIDC Core 3.1.2.1).
    A flag rather than a time comparison, so a sign-in in the same second as an earlier one
    still counts and an earlier one never does. ``consented_during_request`` is the same for
    ``prompt=consent``. ``factors`` are the user's active factors; ``trusted_device`` says this
    browser was remembered after a second factor.

    Policy: ``default_policy``, ``role_policies`` and ``override`` combine into ``policy``.
    ``policy``, ``counted_events`` and ``amr`` are derived once per context (every check of
    ``decide`` reads them).
    ``elevation_lifetime`` bounds how long a second factor keeps counting in an SSO session.
    ``enrollable`` are the kinds a user can add on a page during sign-in, each with the amr
    adding one gives at best (adding counts as the session's second factor): the enroll
    prompt offers one when a requested acr is out of reach of the user's own factors.
    ``enrollment_skipped`` says the user skipped the enrollment page in this sign-in session;
    ``grace_started_at`` / ``grace_skips`` are the user's enrollment grace so far.
    ``attested_passkey_missing`` says the user holds passkeys and none of them was attested
    by an authenticator model that is still allowed: under a policy that requires attested
    passkeys they sign in at a lower level, and the enroll prompt asks for a compliant one.

    ``operation`` names a sensitive operation on the provider (None: a sign-in); it needs a
    second factor (or, without one, an authentication) within ``operation_window`` seconds.
    """

    now: int
    user_id: str | None
    roles: frozenset[str] = frozenset()
    events: tuple[AuthEvent, ...] = ()
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    essential_acr: tuple[str, ...] = ()
    reauthenticated: bool = False
    consented_during_request: bool = False
    first_party: bool = False
    consent_granted: bool = False
    requested_scopes: frozenset[str] = field(default_factory=frozenset)
    factors: tuple[FactorOption, ...] = ()
    enrollable: tuple[FactorOption, ...] = ()
    trusted_device: bool = False
    levels: acr.Levels = acr.DEFAULT
    client_minimum_acr: str | None = None
    client_default_acr: tuple[str, ...] = ()
    default_policy: rules.MfaPolicy = rules.MfaPolicy()
    role_policies: tuple[rules.MfaPolicy, ...] = ()
    override: rules.Override | None = None
    elevation_lifetime: int | None = None
    enrollment_skipped: bool = False
    grace_started_at: int | None = None
    grace_skips: int = 0
    attested_passkey_missing: bool = False
    operation: str | None = None
    operation_window: int = 0

    @cached_property
    def policy(self) -> rules.MfaPolicy:
        """The MFA policy that applies to this user now."""
        return rules.effective(self.default_policy, self.role_policies, self.override, self.now)

    @cached_property
    def counted_events(self) -> tuple[AuthEvent, ...]:
        """The events that still count: a second factor stops counting after the elevation
        lifetime or the policy's second-factor maximum age, whichever is shorter."""
        limits = [x for x in (self.elevation_lifetime, self.policy.factor_max_age) if x]
        oldest = self.now - min(limits) if limits else None
        return tuple(
            e for e in self.events if not e.is_second_factor or oldest is None or e.at >= oldest
        )

    @property
    def auth_time(self) -> int | None:
        """Time of the last counted interactive authentication (OIDC Core 2, ``auth_time``)."""
        return max((e.at for e in self.counted_events), default=None)

    @cached_property
    def amr(self) -> tuple[str, ...]:
        """The distinct amr values the session still holds, sorted, with ``mfa`` when it applies."""
        return with_mfa({v for e in self.counted_events for v in e.amr})

    @property
    def has_second_factor(self) -> bool:
        """A counted second factor that meets the policy: of a kind it allows when the user
        has one; any of the user's own otherwise (until they enroll an allowed kind, the
        factors they have keep protecting them)."""
        policy, allowed_only = self.policy, bool(self.usable_factors)
        return any(
            e.is_second_factor and (not allowed_only or e.kind is None or policy.allows(e.kind))
            for e in self.counted_events
        )

    @property
    def routine_factors(self) -> tuple[FactorOption, ...]:
        """The user's second factors used at every sign-in (not backup codes)."""
        return tuple(f for f in self.factors if f.kind in ROUTINE_SECOND_FACTORS)

    @property
    def allowed_factors(self) -> tuple[FactorOption, ...]:
        """The user's factors the policy allows (backup codes always: they are recovery)."""
        policy = self.policy
        return tuple(f for f in self.factors if policy.allows(f.kind))

    @property
    def usable_factors(self) -> tuple[FactorOption, ...]:
        """The user's routine second factors that the policy allows."""
        return tuple(f for f in self.allowed_factors if f.kind in ROUTINE_SECOND_FACTORS)

    @property
    def addable_factors(self) -> tuple[FactorOption, ...]:
        """The enrollable kinds the policy allows and the user has no active factor of."""
        policy, held = self.policy, {f.kind for f in self.factors}
        return tuple(f for f in self.enrollable if policy.allows(f.kind) and f.kind not in held)

    @property
    def passkey_upgrade_due(self) -> bool:
        """The policy requires attested passkeys (and allows passkeys), and the user's
        passkeys all fall short of it (issue 14)."""
        policy = self.policy
        return (
            policy.require_attested_passkeys
            and policy.allows("passkey")
            and self.attested_passkey_missing
        )

    @property
    def has_grace(self) -> bool:
        """The policy lets a required enrollment be postponed (by sign-ins or by days)."""
        return bool(self.policy.grace_signins or self.policy.grace_days)

    @property
    def grace_left(self) -> bool:
        """Whether a required enrollment may be postponed at this sign-in (by sign-ins and by
        days; both count when both are set)."""
        return self._within_grace(self.grace_skips < self.policy.grace_signins)

    @property
    def postponed(self) -> bool:
        """The user postponed the required enrollment in this sign-in session, within the
        grace (that postponement is already counted in ``grace_skips``)."""
        within = self.grace_skips <= self.policy.grace_signins
        return self.enrollment_skipped and self._within_grace(within)

    def _within_grace(self, signins_ok: bool) -> bool:
        policy = self.policy
        if not self.has_grace:
            return False
        if policy.grace_signins and not signins_ok:
            return False
        started = self.grace_started_at
        return not (
            policy.grace_days and started and self.now >= started + policy.grace_days * 86400
        )
