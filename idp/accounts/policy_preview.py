"""What a policy change would do to the people it covers, counted before it is saved: the
console shows "37 of 120 members have no allowed second factor and will be asked to add one at
their next sign-in" next to the Save button.

The counts are the policy's own effect on its members: a member exempted by a live override is
not counted, and another role or the default may ask more of someone (the effective policy
combines them at sign-in). Each count is one anti-join on indexed columns, no per-user work,
so a preview stays quick at a million users.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select

from idp.clock import now
from idp.extensions import db
from idp.models import Factor, PolicyOverride, Role, User
from idp.models.factor import FactorStatus
from idp.models.user import user_roles
from idp.policy import rules
from idp.policy.rules import MfaPolicy


@dataclass(frozen=True)
class Preview:
    """``members`` the policy covers; of them, ``without_factor`` have no active second factor
    the policy allows (now and after the change) and are not exempted by an override."""

    members: int
    without_factor_now: int
    without_factor_after: int
    mode_now: str
    mode_after: str

    @property
    def asked_to_enroll(self) -> int:
        """Members the changed policy will ask to add a second factor at their next sign-in."""
        return self.without_factor_after if self.mode_after == "required" else 0

    @property
    def offered_enrollment(self) -> int:
        return self.without_factor_after if self.mode_after == "recommended" else 0

    @property
    def newly_asked(self) -> int:
        """Of those, how many the policy as it stands does not ask today."""
        asked_now = self.without_factor_now if self.mode_now == "required" else 0
        return max(self.asked_to_enroll - asked_now, 0)


def preview(role: Role | None, now_policy: MfaPolicy, after: MfaPolicy) -> Preview:
    """The counts for changing ``role``'s policy (``None``: the default, covering everyone)."""
    members = _members(role)
    return Preview(
        members=_count(members),
        without_factor_now=_count(_without_factor(members, now_policy)),
        without_factor_after=_count(_without_factor(members, after)),
        mode_now=now_policy.mode,
        mode_after=after.mode,
    )


def _members(role: Role | None) -> Select:
    if role is None:
        return select(User.id.label("user_id"))
    return select(user_roles.c.user_id).where(user_roles.c.role_id == role.id)


def _without_factor(members: Select, policy: MfaPolicy) -> Select:
    user_id = members.selected_columns[0]
    kinds = sorted(policy.factors) if policy.factors is not None else list(rules.FACTOR_KINDS)
    allowed = select(Factor.user_id).where(
        Factor.status == FactorStatus.ACTIVE.value, Factor.kind.in_(kinds)
    )
    exempt = select(PolicyOverride.user_id).where(
        PolicyOverride.kind == "exempt", PolicyOverride.until > now()
    )
    return members.where(user_id.not_in(allowed), user_id.not_in(exempt))


def _count(query: Select) -> int:
    return db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
