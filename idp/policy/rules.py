"""Admin MFA policy as values: the global default, one per role, per-user overrides, combined.

A user with several roles gets the strictest combination (the strongest mode, only the factor
kinds every role allows, remember-device only if every role allows it, the shortest second-factor
age and enrollment grace, attested passkeys if any role requires them). A per-user override
replaces the mode until it expires: ``exempt`` lifts a requirement (for example while a lost
phone is replaced), ``require`` imposes one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

MODES = ("off", "recommended", "required")  # weakest first
OVERRIDES = ("require", "exempt")
#: Second-factor kinds a policy may allow; backup codes are recovery and always usable.
FACTOR_KINDS = ("totp", "passkey", "email", "sms")
#: Changes on the provider that need a fresh second factor (``IDP_STEPUP_WINDOWS``).
SENSITIVE_OPERATIONS = (
    "change_password",
    "change_email",
    "add_factor",
    "remove_factor",
    "regenerate_backup_codes",
    "revoke_devices",
    "admin",
)


@dataclass(frozen=True)
class MfaPolicy:
    """What a role (or the global default) asks of its members' second factors.

    ``factors`` None allows every kind; an empty set (only ever the combination of roles that
    allow disjoint kinds) allows none, so a required enrollment cannot be met until an admin
    resolves the conflict. ``factor_max_age`` (seconds) re-asks a second factor
    older than that. ``grace_signins`` / ``grace_days`` let a member of a ``required`` role skip
    enrollment that many sign-ins / days before it blocks; 0 means no grace.
    ``require_attested_passkeys``: only a passkey attested by an allowed authenticator model
    counts as hardware-bound (``hwk``), and new passkeys must be such.
    """

    mode: str = "off"
    factors: frozenset[str] | None = None
    remember_device: bool = True
    factor_max_age: int | None = None
    grace_signins: int = 0
    grace_days: int = 0
    require_attested_passkeys: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.factors is not None and not self.factors <= set(FACTOR_KINDS):
            unknown = ", ".join(sorted(self.factors - set(FACTOR_KINDS)))
            raise ValueError(f"unknown factor kinds: {unknown}")
        if (self.factor_max_age or 0) < 0 or self.grace_signins < 0 or self.grace_days < 0:
            raise ValueError("ages and grace must not be negative")

    def allows(self, kind: str) -> bool:
        """Whether a factor of ``kind`` counts under this policy (backup codes always do)."""
        return kind == "backup_codes" or self.factors is None or kind in self.factors


@dataclass(frozen=True)
class Override:
    """A per-user exemption or requirement, valid until ``until`` (epoch seconds)."""

    kind: str
    until: int
    reason: str

    def active(self, now: int) -> bool:
        return now < self.until


def strictest(policies: Iterable[MfaPolicy]) -> MfaPolicy:
    """Combine policies into one at least as strict as each of them, whatever their order.

    Allowed kinds are those every policy allows (possibly none: a required enrollment then
    cannot be met, and its page tells the user to contact an administrator).
    Grace is the least among the policies that require MFA (grace only softens ``required``).
    """
    items = list(policies) or [MfaPolicy()]
    kinds = [p.factors for p in items if p.factors is not None]
    factors = frozenset.intersection(*kinds) if kinds else None
    ages = [p.factor_max_age for p in items if p.factor_max_age is not None]
    requiring = [p for p in items if p.mode == "required"] or items
    return MfaPolicy(
        mode=max((p.mode for p in items), key=MODES.index),
        factors=factors,
        remember_device=all(p.remember_device for p in items),
        factor_max_age=min(ages) if ages else None,
        grace_signins=min(p.grace_signins for p in requiring),
        grace_days=min(p.grace_days for p in requiring),
        require_attested_passkeys=any(p.require_attested_passkeys for p in items),
    )


def effective(
    default: MfaPolicy, roles: Iterable[MfaPolicy], override: Override | None, now: int
) -> MfaPolicy:
    """The policy that applies to one user now: the default and the roles' strictest
    combination, with an unexpired override's mode on top."""
    combined = strictest((default, *roles))
    if override is None or not override.active(now):
        return combined
    return replace(combined, mode="required" if override.kind == "require" else "off")
