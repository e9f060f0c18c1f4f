"""The one second-factor step (``idp.factors.answer``), in-process on a real migrated database.

Each test drives ``answer.sign_in`` or ``answer.enrollment`` as the views do, with an ``Attempt``
built from the shipped code's rows, and reads back what was committed.
"""

from __future__ import annotations

import time
import uuid

import pyotp
import pytest
from sqlalchemy import select

from idp import random_tokens
from idp.clock import now
from idp.extensions import db
from idp.factors import answer, backup_codes, challenges, lifecycle, totp
from idp.factors.answer import Attempt, StaleChallenge
from idp.factors.base import ChallengeFailed, WrongCode
from idp.models import AuditEvent, Factor, LoginSession, RateLimitCounter, User
from idp.models.factor import FactorStatus
from idp.models.rate_limits import RateLimited
from tests.factors.conftest import CHALLENGE_MAX_ATTEMPTS


def login_session(user: User) -> LoginSession:
    row = LoginSession(id=random_tokens.token(24), user_id=user.id, expires_at=now() + 600)
    db.session.add(row)
    db.session.commit()
    return row


def pending_totp(user: User) -> tuple[Factor, str]:
    factor, secret = totp.enroll(user, "Phone")
    db.session.commit()
    return factor, secret


def active_totp(user: User) -> tuple[Factor, str]:
    factor, secret = pending_totp(user)
    lifecycle.move(factor, FactorStatus.ACTIVE, actor=user.email, subject=user.sub, reason="t")
    db.session.commit()
    return factor, secret


def issue(user: User, session: LoginSession, factor: Factor, purpose: str = challenges.SIGNIN):
    row = challenges.issue(user, session.id, factor, factor.kind, purpose)
    db.session.commit()
    return row


def unique_address() -> str:
    """A documentation IPv6 address no other test shares, so per-address counters start at 0."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


def attempt(user, session, factor, challenge_id, response, address=None) -> Attempt:
    return Attempt(user, session, factor, challenge_id, response, address or unique_address())


def wrong(secret: str) -> str:
    near = {pyotp.TOTP(secret).at(time.time() + 30 * k) for k in range(-3, 4)}
    return next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in near)


def audited(user: User, event: str) -> list[AuditEvent]:
    rows = db.session.execute(
        select(AuditEvent).where(AuditEvent.subject == user.sub, AuditEvent.event == event)
    ).scalars()
    return list(rows)


def test_right_code_adds_the_event_to_the_sign_in_session_and_audits_it(user):
    factor, secret = active_totp(user)
    session = login_session(user)
    challenge = issue(user, session, factor)

    event = answer.sign_in(attempt(user, session, factor, challenge.id, pyotp.TOTP(secret).now()))
    db.session.commit()

    assert (event.method, event.amr) == ("totp", ["otp"])
    assert [e.method for e in db.session.get(LoginSession, session.id).events] == ["totp"]
    assert [r.detail["method"] for r in audited(user, "second_factor_passed")] == ["totp"]
    assert db.session.get(Factor, factor.id).last_used_at is not None


def test_challenge_of_another_sign_in_session_is_stale(user):
    factor, secret = active_totp(user)
    mine, other = login_session(user), login_session(user)
    challenge = issue(user, other, factor)
    with pytest.raises(StaleChallenge):
        answer.sign_in(attempt(user, mine, factor, challenge.id, pyotp.TOTP(secret).now()))
    assert db.session.get(type(challenge), challenge.id).status == "issued"


def test_enrollment_challenge_does_not_answer_a_sign_in(user):
    factor, secret = active_totp(user)
    session = login_session(user)
    challenge = issue(user, session, factor, challenges.ENROLL)
    with pytest.raises(StaleChallenge):
        answer.sign_in(attempt(user, session, factor, challenge.id, pyotp.TOTP(secret).now()))


def test_refusal_is_committed_before_it_is_raised(user):
    factor, secret = active_totp(user)
    session = login_session(user)
    challenge = issue(user, session, factor)
    address = unique_address()

    with pytest.raises(WrongCode):
        answer.sign_in(attempt(user, session, factor, challenge.id, wrong(secret), address))
    db.session.rollback()  # what the step counted survives the view's rollback

    assert db.session.get(type(challenge), challenge.id).attempts == 1
    assert db.session.get(Factor, factor.id).failures == 1
    counter = db.session.execute(
        select(RateLimitCounter).where(RateLimitCounter.key == f"second_factor:{address}")
    ).scalar_one()
    assert counter.hits == 1


def test_per_address_limit_refuses_before_anything_is_verified(ctx, user, monkeypatch):
    monkeypatch.setitem(ctx.config, "RATE_LIMIT_PER_MINUTE", 1)
    factor, secret = active_totp(user)
    session = login_session(user)
    challenge = issue(user, session, factor)
    address = unique_address()
    with pytest.raises(WrongCode):
        answer.sign_in(attempt(user, session, factor, challenge.id, wrong(secret), address))

    with pytest.raises(RateLimited):
        answer.sign_in(attempt(user, session, factor, challenge.id, wrong(secret), address))
    assert db.session.get(type(challenge), challenge.id).attempts == 1


def test_backup_code_lifts_the_locks_of_the_other_factors(user):
    locked, _ = active_totp(user)
    locked.locked_at = now()
    codes = backup_codes.generate(user, actor=user.email)
    session = login_session(user)
    factor = backup_codes.active_set(user)
    challenge = issue(user, session, factor)

    event = answer.sign_in(attempt(user, session, factor, challenge.id, codes[0]))
    db.session.commit()

    assert event.method == "backup_code"
    assert db.session.get(Factor, locked.id).locked_at is None


def test_enrollment_activates_the_factor_and_counts_as_its_second_factor(user):
    factor, secret = pending_totp(user)
    session = login_session(user)
    challenge = issue(user, session, factor, challenges.ENROLL)

    event = answer.enrollment(
        attempt(user, session, factor, challenge.id, pyotp.TOTP(secret).now())
    )
    db.session.commit()

    assert db.session.get(Factor, factor.id).status == "active"
    assert (event.method, event.amr) == ("totp", ["otp"])
    assert audited(user, "factor_activated")[0].detail["reason"] == "verified"


def test_enrollment_codes_count_against_the_attempt_limit(user):
    factor, secret = pending_totp(user)
    session = login_session(user)
    challenge = issue(user, session, factor, challenges.ENROLL)
    for _ in range(CHALLENGE_MAX_ATTEMPTS):
        with pytest.raises(WrongCode):
            answer.enrollment(attempt(user, session, factor, challenge.id, wrong(secret)))

    with pytest.raises(ChallengeFailed):
        answer.enrollment(attempt(user, session, factor, challenge.id, pyotp.TOTP(secret).now()))
    assert db.session.get(Factor, factor.id).status == "pending"
    assert db.session.get(Factor, factor.id).failures == CHALLENGE_MAX_ATTEMPTS
