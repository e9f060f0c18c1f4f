"""Stored MFA policy as the policy engine's values, and its audited changes (CLI, later admin).

Every change is recorded with the policy before and after. The policy engine itself
(``idp.policy``) never reads the database; ``inputs`` gathers what it needs for one user.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import select

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.models import DefaultPolicy, PolicyOverride, Role, User
from idp.models.policy import PolicyColumns
from idp.policy import rules
from idp.policy.rules import MfaPolicy, Override


@dataclass(frozen=True)
class PolicyInputs:
    """One user's stored policy, ready for an ``AuthContext``."""

    default: MfaPolicy
    roles: tuple[MfaPolicy, ...]
    override: Override | None

    def effective(self) -> MfaPolicy:
        return rules.effective(self.default, self.roles, self.override, now())


def policy_of(row: PolicyColumns) -> MfaPolicy:
    """The stored columns of a role or the default as the policy engine's value."""
    return MfaPolicy(
        mode=row.mfa_mode,
        factors=frozenset(row.mfa_factors) if row.mfa_factors is not None else None,
        remember_device=row.remember_device,
        factor_max_age=row.factor_max_age,
        grace_signins=row.grace_signins,
        grace_days=row.grace_days,
        require_attested_passkeys=row.require_attested_passkeys,
    )


def _store(row: PolicyColumns, policy: MfaPolicy) -> None:
    row.mfa_mode = policy.mode
    row.mfa_factors = sorted(policy.factors) if policy.factors is not None else None
    row.remember_device = policy.remember_device
    row.factor_max_age = policy.factor_max_age
    row.grace_signins = policy.grace_signins
    row.grace_days = policy.grace_days
    row.require_attested_passkeys = policy.require_attested_passkeys


def describe(policy: MfaPolicy) -> dict:
    """A policy as JSON-ready data (CLI output and audit before/after)."""
    data = dataclasses.asdict(policy)
    data["factors"] = sorted(policy.factors) if policy.factors is not None else None
    return data


def default_row() -> DefaultPolicy:
    """The global default policy, created (mode off) the first time it is asked for."""
    row = db.session.get(DefaultPolicy, 1)
    if row is None:
        row = DefaultPolicy(id=1)
        _store(row, MfaPolicy())
        db.session.add(row)
    return row


def override_of(user: User) -> PolicyOverride | None:
    return db.session.execute(
        select(PolicyOverride).where(PolicyOverride.user_id == user.id)
    ).scalar()


def inputs(user: User) -> PolicyInputs:
    row = db.session.get(DefaultPolicy, 1)
    found = override_of(user)
    return PolicyInputs(
        default=policy_of(row) if row is not None else MfaPolicy(),
        roles=tuple(policy_of(r) for r in user.roles),
        override=Override(found.kind, found.until, found.reason) if found else None,
    )


def set_role_policy(role: Role, policy: MfaPolicy, *, actor: str) -> None:
    before = policy_of(role)
    _store(role, policy)
    audit.record(
        "role_policy_changed", actor=actor, role=role.name,
        before=describe(before), after=describe(policy),
    )  # fmt: skip


def set_default_policy(policy: MfaPolicy, *, actor: str) -> None:
    row = default_row()
    before = policy_of(row)
    _store(row, policy)
    audit.record(
        "default_policy_changed", actor=actor, before=describe(before), after=describe(policy)
    )


def set_override(user: User, kind: str, until: int, reason: str, *, actor: str) -> None:
    """Exempt a user from, or require, MFA until ``until``; replaces an earlier override."""
    if kind not in rules.OVERRIDES:
        raise ValueError(f"override must be one of {', '.join(rules.OVERRIDES)}")
    if until <= now():
        raise ValueError("the override's end must be in the future")
    if not reason.strip():
        raise ValueError("give a reason: it goes into the audit log")
    row = override_of(user)
    before = _override_data(row)
    if row is None:
        row = PolicyOverride(user_id=user.id)
        db.session.add(row)
    row.kind, row.until, row.reason, row.created_by = kind, until, reason.strip()[:500], actor
    row.created_at = now()
    audit.record(
        "policy_override_set", actor=actor, subject=user.sub,
        before=before, after=_override_data(row),
    )  # fmt: skip


def clear_override(user: User, *, actor: str) -> bool:
    row = override_of(user)
    if row is None:
        return False
    audit.record(
        "policy_override_cleared", actor=actor, subject=user.sub, before=_override_data(row)
    )
    db.session.delete(row)
    return True


def _override_data(row: PolicyOverride | None) -> dict | None:
    if row is None:
        return None
    return {"kind": row.kind, "until": row.until, "reason": row.reason}


def postpone_enrollment(user: User) -> None:
    """The user skipped a required enrollment within its grace: count it."""
    _count_postponement(user)
    audit.record("enrollment_postponed", actor=user.email, subject=user.sub, skips=user.grace_skips)


def postpone_passkey_upgrade(user: User) -> None:
    """The user postponed adding an attested passkey (issue 14): counted against the
    enrollment grace when the policy has one, as a required enrollment is; else only recorded
    (without a grace the user is asked again at each sign-in)."""
    policy = inputs(user).effective()
    skips = None
    if policy.grace_signins or policy.grace_days:
        skips = _count_postponement(user)
    audit.record("passkey_upgrade_postponed", actor=user.email, subject=user.sub, skips=skips)


def _count_postponement(user: User) -> int:
    if user.grace_started_at is None:
        user.grace_started_at = now()
    user.grace_skips += 1
    return user.grace_skips
