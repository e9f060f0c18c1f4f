"""Brute-force protection per factor: exponential back-off, then a hard lock.

After ``BACKOFF_AFTER`` consecutive failures each further failure doubles a cooldown (capped at
15 minutes); at ``LOCKOUT_THRESHOLD`` (at most 100, NIST SP 800-63B 5.2.2) the factor locks until
an administrator or a successful recovery unlocks it. Counters move with atomic UPDATEs so
parallel guesses are all counted.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select, update

from idp import audit
from idp.extensions import db
from idp.factors.base import CoolingDown, FactorLocked
from idp.models import Factor

MAX_COOLDOWN = 900


def check(factor: Factor, at: int) -> None:
    """Refuse before verifying anything while the factor is locked or cooling down."""
    if factor.locked_at is not None:
        raise FactorLocked()
    if factor.blocked_until is not None and factor.blocked_until > at:
        raise CoolingDown(factor.blocked_until)


def cooldown(failures: int, backoff_after: int) -> int:
    """Seconds to wait after ``failures`` consecutive failures (0 before back-off starts)."""
    if failures < backoff_after:
        return 0
    return min(MAX_COOLDOWN, 2 ** (failures - backoff_after + 1))


def failure(factor: Factor, at: int, subject: str) -> None:
    """Count a failed attempt; start a cooldown or lock as the count demands."""
    cfg = current_app.config
    db.session.execute(
        update(Factor).where(Factor.id == factor.id).values(failures=Factor.failures + 1)
    )
    db.session.refresh(factor, ["failures"])
    wait = cooldown(factor.failures, cfg["BACKOFF_AFTER"])
    if factor.failures >= cfg["LOCKOUT_THRESHOLD"]:
        factor.locked_at = at
        audit.record("factor_locked", outcome="failure", subject=subject, factor_id=factor.id)
    elif wait:
        factor.blocked_until = at + wait
        audit.record(
            "factor_cooldown", outcome="failure", subject=subject, factor_id=factor.id, seconds=wait
        )


def success(factor: Factor, at: int) -> None:
    factor.failures = 0
    factor.blocked_until = None
    factor.last_used_at = at


def unlock_all(user_id: int, *, actor: str, subject: str) -> int:
    """Lift every lock and cooldown of a user's factors; returns how many were locked."""
    rows = db.session.execute(
        select(Factor).where(Factor.user_id == user_id, Factor.locked_at.is_not(None))
    ).scalars()
    locked = list(rows)
    for factor in locked:
        unlock(factor, actor=actor, subject=subject)
    return len(locked)


def unlock(factor: Factor, *, actor: str, subject: str) -> None:
    """Lift a lock (an admin action, or a successful account recovery)."""
    factor.failures = 0
    factor.blocked_until = None
    factor.locked_at = None
    audit.record("factor_unlocked", actor=actor, subject=subject, factor_id=factor.id)
