"""Issuing and answering challenges: single use, short-lived, bound to one sign-in session.

``answer`` is the one way to settle a challenge: it expires a stale one, refuses a settled one
(verified: "already used"; expired; failed), counts wrong answers against the attempt limit and
the factor's back-off, and on success moves the challenge to verified with a conditional UPDATE
so that two tabs or two workers cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

from flask import current_app
from sqlalchemy import select, update

from idp import audit, random_tokens
from idp.clock import now
from idp.extensions import db
from idp.factors import lifecycle, throttle
from idp.factors.base import (
    ChallengeExpired,
    ChallengeFailed,
    ChallengeUsed,
    FactorError,
    Verification,
)
from idp.models import Challenge, Factor, User
from idp.models.factor import ChallengeStatus, IllegalTransition

#: What a challenge is for: a second factor at sign-in, or the first answer of a pending factor.
SIGNIN, ENROLL = "signin", "enroll"


def issue(
    user: User,
    login_session_id: str | None,
    factor: Factor | None,
    kind: str,
    purpose: str,
    secret: str | None = None,
) -> Challenge:
    cfg = current_app.config
    row = Challenge(
        id=random_tokens.token(24),
        user_id=user.id,
        login_session_id=login_session_id,
        factor_id=factor.id if factor else None,
        kind=kind,
        purpose=purpose,
        expires_at=now() + cfg["CHALLENGE_TTL"],
        max_attempts=cfg["CHALLENGE_MAX_ATTEMPTS"],
        secret=secret,
    )
    db.session.add(row)
    audit.record(
        "challenge_issued", subject=user.sub, challenge_kind=kind, purpose=purpose,
        factor_id=row.factor_id,
    )  # fmt: skip
    return row


def find(challenge_id: str, login_session_id: str | None) -> Challenge | None:
    """A challenge of this sign-in session; another session's challenge does not exist here."""
    row = db.session.get(Challenge, challenge_id)
    if row is None or row.login_session_id != login_session_id:
        return None
    return row


def is_open(challenge_id: str | None, login_session_id: str | None) -> bool:
    """Whether this session's challenge still takes answers (issued and not expired)."""
    row = find(challenge_id or "", login_session_id)
    return row is not None and row.status == ChallengeStatus.ISSUED and row.expires_at > now()


def locked(factor: Factor) -> Factor:
    """``factor`` re-read with its row locked until the transaction ends (PostgreSQL; SQLite's
    one writer is the lock): its counters and credential data move under the lock."""
    return db.session.execute(
        select(Factor)
        .where(Factor.id == factor.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def answer(
    challenge: Challenge,
    factor: Factor | None,
    user: User,
    verify: Callable[[], Verification],
) -> Verification:
    """Settle ``challenge`` with ``verify`` (which raises ``FactorError`` on a wrong answer)."""
    at = now()
    _refuse_settled(challenge, user, at)
    if factor is not None:
        throttle.check(factor, at)
    try:
        result = verify()
    except FactorError:
        _wrong_answer(challenge, factor, user, at)
        raise
    try:
        lifecycle.settle(challenge, ChallengeStatus.VERIFIED, subject=user.sub)
    except IllegalTransition as exc:
        raise ChallengeUsed() from exc
    if factor is not None:
        throttle.success(factor, at)
    return result


def _refuse_settled(challenge: Challenge, user: User, at: int) -> None:
    status = ChallengeStatus(challenge.status)
    if status is ChallengeStatus.VERIFIED:
        raise ChallengeUsed()
    if status is ChallengeStatus.FAILED:
        raise ChallengeFailed()
    if status is ChallengeStatus.EXPIRED:
        raise ChallengeExpired()
    if challenge.expires_at <= at:
        with suppress(IllegalTransition):  # settled concurrently: expired or used either way
            lifecycle.settle(challenge, ChallengeStatus.EXPIRED, subject=user.sub)
        raise ChallengeExpired()


def _wrong_answer(challenge: Challenge, factor: Factor | None, user: User, at: int) -> None:
    audit.record(  # each wrong answer: the person's security page lists failed attempts
        "second_factor_failed", outcome="failure", subject=user.sub, challenge_kind=challenge.kind,
        purpose=challenge.purpose, factor_id=challenge.factor_id,
    )  # fmt: skip
    db.session.execute(
        update(Challenge)
        .where(Challenge.id == challenge.id)
        .values(attempts=Challenge.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(challenge, ["attempts", "status"])
    if challenge.attempts >= challenge.max_attempts and challenge.status == "issued":
        with suppress(IllegalTransition):  # settled concurrently
            lifecycle.settle(challenge, ChallengeStatus.FAILED, subject=user.sub)
    if factor is not None:
        throttle.failure(factor, at, user.sub)
