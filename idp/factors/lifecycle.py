"""The audited moves of the factor and challenge state machines (``idp.models.factor``).

The model applies a move with a conditional UPDATE and refuses an illegal or lost one; this
module is the one place that moves a row and records the move in the same transaction, so no
state change of a factor or a challenge goes unaudited and the models import no audit.
"""

from __future__ import annotations

from idp import audit
from idp.models import Challenge, Factor
from idp.models.factor import ChallengeStatus, FactorStatus

FACTOR_EVENTS = {
    FactorStatus.ACTIVE: "factor_activated",
    FactorStatus.REVOKED: "factor_revoked",
}
CHALLENGE_EVENTS = {
    ChallengeStatus.VERIFIED: "challenge_verified",
    ChallengeStatus.EXPIRED: "challenge_expired",
    ChallengeStatus.FAILED: "challenge_failed",
}


def move(factor: Factor, to: FactorStatus, *, actor: str, subject: str, reason: str) -> None:
    """``factor`` to ``to`` (``IllegalTransition`` if it may not), audited with ``reason``
    and the state before and after."""
    before = factor.status
    factor.transition(to)
    audit.record(
        FACTOR_EVENTS[FactorStatus(to)],
        actor=actor,
        subject=subject,
        factor_id=factor.id,
        kind=factor.kind,
        reason=reason,
        before=before,
        after=factor.status,
    )


def settle(challenge: Challenge, to: ChallengeStatus, *, subject: str) -> None:
    """``challenge`` to a final state (``IllegalTransition`` if already settled), audited."""
    challenge.transition(to)
    audit.record(
        CHALLENGE_EVENTS[ChallengeStatus(to)],
        outcome="success" if to is ChallengeStatus.VERIFIED else "failure",
        subject=subject,
        challenge_kind=challenge.kind,
        purpose=challenge.purpose,
        factor_id=challenge.factor_id,
    )
