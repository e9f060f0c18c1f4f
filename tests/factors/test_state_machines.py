"""The Factor and Challenge state machines, challenge answering and the brute-force throttle.

Run in-process against a real (SQLite) database migrated by Alembic: every legal and illegal
transition, the audit row written in the same transaction, the conditional UPDATE that refuses a
move another worker made first, and the refusals of ``challenges.answer`` and ``throttle``.
"""

from __future__ import annotations

import itertools
import time

import pyotp
import pytest
from sqlalchemy import func, select, update

from idp.accounts import users
from idp.clock import now
from idp.extensions import db
from idp.factors import challenges, lifecycle, registry, throttle, totp
from idp.factors.base import (
    ChallengeExpired,
    ChallengeFailed,
    ChallengeUsed,
    CoolingDown,
    FactorError,
    FactorLocked,
    Verification,
    WrongCode,
)
from idp.models import AuditEvent, Challenge, Factor, User
from idp.models.factor import ChallengeStatus, FactorStatus, IllegalTransition
from tests.factors.conftest import BACKOFF_AFTER, CHALLENGE_MAX_ATTEMPTS, LOCKOUT_THRESHOLD

PENDING, ACTIVE, REVOKED = FactorStatus.PENDING, FactorStatus.ACTIVE, FactorStatus.REVOKED
ISSUED, VERIFIED = ChallengeStatus.ISSUED, ChallengeStatus.VERIFIED
EXPIRED, FAILED = ChallengeStatus.EXPIRED, ChallengeStatus.FAILED

FACTOR_LEGAL = {
    (PENDING, ACTIVE): ("factor_activated", "activated_at"),
    (PENDING, REVOKED): ("factor_revoked", "revoked_at"),
    (ACTIVE, REVOKED): ("factor_revoked", "revoked_at"),
}
FACTOR_ILLEGAL = [m for m in itertools.product(FactorStatus, repeat=2) if m not in FACTOR_LEGAL]
CHALLENGE_LEGAL = {
    (ISSUED, VERIFIED): ("challenge_verified", "success"),
    (ISSUED, EXPIRED): ("challenge_expired", "failure"),
    (ISSUED, FAILED): ("challenge_failed", "failure"),
}
CHALLENGE_ILLEGAL = [
    m for m in itertools.product(ChallengeStatus, repeat=2) if m not in CHALLENGE_LEGAL
]


def _ids(moves) -> list[str]:
    return [f"{a.value}->{b.value}" for a, b in moves]


# --- helpers ------------------------------------------------------------------------------


def audit_rows(user: User, event: str, **detail) -> list[AuditEvent]:
    rows = db.session.execute(
        select(AuditEvent)
        .where(AuditEvent.subject == user.sub, AuditEvent.event == event)
        .order_by(AuditEvent.seq)
    ).scalars()
    return [r for r in rows if all(r.detail.get(k) == v for k, v in detail.items())]


def audit_count() -> int:
    return db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def stored(model, row_id) -> dict:
    """The row as the database has it now (in this session's transaction)."""
    table = model.__table__
    return dict(db.session.execute(select(table).where(table.c.id == row_id)).mappings().one())


def factor_in(user: User, status: FactorStatus, kind: str = "totp") -> Factor:
    """A committed factor brought to ``status`` through legal transitions only."""
    factor = Factor(user_id=user.id, kind=kind, name="Phone", data={})
    db.session.add(factor)
    db.session.flush()
    for step in {PENDING: [], ACTIVE: [ACTIVE], REVOKED: [ACTIVE, REVOKED]}[status]:
        lifecycle.move(factor, step, actor=user.email, subject=user.sub, reason="setup")
    db.session.commit()
    return factor


def challenge_in(user: User, status: ChallengeStatus, factor: Factor | None = None) -> Challenge:
    row = challenges.issue(user, "login-session-1", factor, "totp", "signin")
    db.session.flush()
    if status is not ISSUED:
        lifecycle.settle(row, status, subject=user.sub)
    db.session.commit()
    return row


def totp_factor(user: User) -> tuple[Factor, str]:
    """An active TOTP factor whose seed the test knows (enrolled with the shipped code)."""
    factor, secret = totp.enroll(user, "Phone")
    lifecycle.move(factor, ACTIVE, actor=user.email, subject=user.sub, reason="verified")
    db.session.commit()
    return factor, secret


def right_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def wrong_code(secret: str) -> str:
    """Six digits that match no time step near now (so never accepted during the test)."""
    near = {pyotp.TOTP(secret).at(time.time() + 30 * k) for k in range(-3, 4)}
    return next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in near)


def answer_with(challenge: Challenge, factor: Factor | None, user: User, code: str):
    verifying = factor or db.session.get(Factor, challenge.factor_id)
    return challenges.answer(
        challenge,
        factor,
        user,
        lambda: registry.kind_of(verifying).verify(challenge, verifying, user, code),
    )


def lose_race(model, row, status: str, *also_read) -> None:
    """Another worker moves ``row`` to ``status`` through its own connection first.

    This worker has already read ``row`` (and ``also_read``): their loaded state is kept, while
    its own transaction ends so that the other connection may write (SQLite takes the write
    lock at BEGIN).
    """
    kept = (row, *also_read)
    for obj in kept:
        db.session.refresh(obj)
    db.session.close()  # detaches them without expiring them
    with db.engine.begin() as other:
        table = model.__table__
        other.execute(update(table).where(table.c.id == row.id).values(status=status))
    db.session.add_all(kept)


# --- Factor -------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "to"), list(FACTOR_LEGAL), ids=_ids(FACTOR_LEGAL))
def test_legal_factor_transition_is_applied_and_audited_in_the_same_transaction(user, start, to):
    event, stamp = FACTOR_LEGAL[(start, to)]
    factor = factor_in(user, start)
    before = audit_rows(user, event, factor_id=factor.id)

    lifecycle.move(factor, to, actor=user.email, subject=user.sub, reason="test")

    row = stored(Factor, factor.id)
    assert row["status"] == to.value and factor.status == to.value
    assert row[stamp] is not None and abs(row[stamp] - now()) <= 2
    added = audit_rows(user, event, factor_id=factor.id)[len(before) :]
    assert len(added) == 1
    assert added[0].actor == user.email and added[0].detail["reason"] == "test"
    assert added[0].detail["kind"] == "totp"

    db.session.rollback()  # the move and its audit record stand or fall together
    assert stored(Factor, factor.id)["status"] == start.value
    assert len(audit_rows(user, event, factor_id=factor.id)) == len(before)


@pytest.mark.parametrize(("start", "to"), list(FACTOR_LEGAL), ids=_ids(FACTOR_LEGAL))
def test_committed_factor_transition_keeps_its_audit_row(user, start, to):
    event, _ = FACTOR_LEGAL[(start, to)]
    factor = factor_in(user, start)
    lifecycle.move(factor, to, actor=user.email, subject=user.sub, reason="test")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Factor, factor.id).status == to.value
    assert [r.detail["reason"] for r in audit_rows(user, event, factor_id=factor.id)][-1] == "test"


@pytest.mark.parametrize(("start", "to"), FACTOR_ILLEGAL, ids=_ids(FACTOR_ILLEGAL))
def test_illegal_factor_transition_is_refused_and_changes_nothing(user, start, to):
    factor = factor_in(user, start)
    row_before, audits_before = stored(Factor, factor.id), audit_count()

    with pytest.raises(IllegalTransition):
        lifecycle.move(factor, to, actor=user.email, subject=user.sub, reason="test")

    assert factor.status == start.value
    assert stored(Factor, factor.id) == row_before
    assert audit_count() == audits_before


def test_pending_factor_is_not_offered_as_active(user):
    pending = factor_in(user, PENDING)
    assert not pending.is_active
    assert registry.factors(user) == []
    assert registry.owned(user, pending.id) is None


@pytest.mark.parametrize(
    ("start", "to", "other_worker_made"),
    [
        (PENDING, ACTIVE, "active"),
        (PENDING, REVOKED, "revoked"),
        (ACTIVE, REVOKED, "revoked"),
        (PENDING, ACTIVE, "revoked"),
    ],
    ids=["activate-vs-activate", "abandon-vs-abandon", "revoke-vs-revoke", "activate-vs-revoke"],
)
def test_factor_transition_that_loses_the_race_is_refused(user, start, to, other_worker_made):
    factor = factor_in(user, start)
    lose_race(Factor, factor, other_worker_made, user)
    audits_before = audit_count()

    with pytest.raises(IllegalTransition, match="concurrently"):
        lifecycle.move(factor, to, actor=user.email, subject=user.sub, reason="second worker")

    assert stored(Factor, factor.id)["status"] == other_worker_made
    assert audit_count() == audits_before


# --- Challenge ----------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "to"), list(CHALLENGE_LEGAL), ids=_ids(CHALLENGE_LEGAL))
def test_legal_challenge_transition_is_applied_and_audited_in_the_same_transaction(user, start, to):
    event, outcome = CHALLENGE_LEGAL[(start, to)]
    challenge = challenge_in(user, start)

    lifecycle.settle(challenge, to, subject=user.sub)

    row = stored(Challenge, challenge.id)
    assert row["status"] == to.value and row["finished_at"] is not None
    [audited] = audit_rows(user, event)
    assert audited.outcome == outcome and audited.detail["purpose"] == "signin"

    db.session.rollback()
    assert stored(Challenge, challenge.id)["status"] == "issued"
    assert stored(Challenge, challenge.id)["finished_at"] is None
    assert audit_rows(user, event) == []


@pytest.mark.parametrize(("start", "to"), CHALLENGE_ILLEGAL, ids=_ids(CHALLENGE_ILLEGAL))
def test_illegal_challenge_transition_is_refused_and_changes_nothing(user, start, to):
    challenge = challenge_in(user, start)
    row_before, audits_before = stored(Challenge, challenge.id), audit_count()

    with pytest.raises(IllegalTransition):
        lifecycle.settle(challenge, to, subject=user.sub)

    assert challenge.status == start.value
    assert stored(Challenge, challenge.id) == row_before
    assert audit_count() == audits_before


@pytest.mark.parametrize("other_worker_made", ["verified", "expired", "failed"])
@pytest.mark.parametrize("to", [VERIFIED, EXPIRED, FAILED], ids=lambda s: s.value)
def test_challenge_transition_that_loses_the_race_is_refused(user, to, other_worker_made):
    challenge = challenge_in(user, ISSUED)
    lose_race(Challenge, challenge, other_worker_made, user)
    audits_before = audit_count()

    with pytest.raises(IllegalTransition, match="concurrently"):
        lifecycle.settle(challenge, to, subject=user.sub)

    assert stored(Challenge, challenge.id)["status"] == other_worker_made
    assert audit_count() == audits_before


def test_challenge_of_another_sign_in_session_is_not_found(user):
    challenge = challenge_in(user, ISSUED)
    assert challenges.find(challenge.id, "login-session-1") is challenge
    assert challenges.find(challenge.id, "another-login-session") is None
    assert challenges.find(challenge.id, None) is None
    assert challenges.find("no-such-challenge", "login-session-1") is None


def test_factor_of_another_user_is_not_owned(user):
    factor = factor_in(user, ACTIVE)
    other = users.create(f"other-{factor.id}-{now()}@example.com", "correct horse battery")
    assert registry.owned(user, factor.id) is factor
    assert registry.owned(other, factor.id) is None
    assert registry.owned(user, factor.id + 10_000) is None
    assert [f.kind for f in registry.factors(user)] == ["totp"] and registry.factors(other) == []


def test_typed_code_for_a_passkey_is_refused(user):
    passkey = factor_in(user, ACTIVE, kind="passkey")
    passkey.data = {"credential_id": "AAAA", "user_handle": "AAAA", "public_key": "AAAA"}
    challenge = challenge_in(user, ISSUED, passkey)
    with pytest.raises(FactorError):
        answer_with(challenge, passkey, user, "123456")


# --- challenges.answer --------------------------------------------------------------------


def test_right_answer_verifies_the_challenge_once(user):
    factor, secret = totp_factor(user)
    challenge = challenge_in(user, ISSUED, factor)

    result = answer_with(challenge, factor, user, right_code(secret))
    db.session.commit()

    assert result == Verification(factor.id, "totp", ("otp",))
    assert stored(Challenge, challenge.id)["status"] == "verified"
    assert stored(Factor, factor.id)["last_used_at"] is not None
    assert len(audit_rows(user, "challenge_verified", factor_id=factor.id)) == 1


def test_verified_challenge_says_already_used_and_changes_nothing(user):
    factor, secret = totp_factor(user)
    challenge = challenge_in(user, VERIFIED, factor)
    row_before, factor_before = stored(Challenge, challenge.id), stored(Factor, factor.id)

    with pytest.raises(ChallengeUsed):
        answer_with(challenge, factor, user, right_code(secret))

    assert stored(Challenge, challenge.id) == row_before
    assert stored(Factor, factor.id) == factor_before  # the time step was not consumed


def test_second_answer_to_a_verified_challenge_says_already_used(user):
    factor, secret = totp_factor(user)
    challenge = challenge_in(user, ISSUED, factor)
    answer_with(challenge, factor, user, pyotp.TOTP(secret).at(time.time() - 30))
    db.session.commit()
    with pytest.raises(ChallengeUsed):
        answer_with(challenge, factor, user, right_code(secret))


def test_answer_that_loses_the_race_to_another_worker_says_already_used(user):
    factor, secret = totp_factor(user)
    challenge = challenge_in(user, ISSUED, factor)
    lose_race(Challenge, challenge, "verified", user, factor)

    with pytest.raises(ChallengeUsed):
        answer_with(challenge, factor, user, right_code(secret))
    assert audit_rows(user, "challenge_verified", factor_id=factor.id) == []


@pytest.mark.parametrize("seconds_past", [0, 90])
def test_challenge_past_its_expiry_says_expired_and_becomes_expired(user, seconds_past):
    factor, secret = totp_factor(user)
    challenge = challenge_in(user, ISSUED, factor)
    challenge.expires_at = now() - seconds_past
    db.session.commit()

    with pytest.raises(ChallengeExpired):
        answer_with(challenge, factor, user, right_code(secret))
    db.session.commit()  # the page commits after a refusal

    assert stored(Challenge, challenge.id)["status"] == "expired"
    assert stored(Factor, factor.id)["totp_last_step"] is None  # the code was not consumed
    assert len(audit_rows(user, "challenge_expired", factor_id=factor.id)) == 1

    with pytest.raises(ChallengeExpired):  # and again, without a second audit record
        answer_with(challenge, factor, user, right_code(secret))
    assert len(audit_rows(user, "challenge_expired", factor_id=factor.id)) == 1


def test_wrong_answers_below_the_limit_leave_the_challenge_open(user):
    factor, secret = totp_factor(user)
    challenge = challenge_in(user, ISSUED, factor)
    for _ in range(CHALLENGE_MAX_ATTEMPTS - 1):
        with pytest.raises(WrongCode):
            answer_with(challenge, factor, user, wrong_code(secret))
        db.session.commit()
    assert stored(Challenge, challenge.id)["status"] == "issued"
    assert answer_with(challenge, factor, user, right_code(secret)).method == "totp"
    db.session.commit()
    assert stored(Factor, factor.id)["failures"] == 0  # a success ends the consecutive run


def test_wrong_answers_up_to_the_attempt_limit_fail_the_challenge_for_good(user):
    factor, secret = totp_factor(user)
    challenge = challenge_in(user, ISSUED, factor)
    assert challenge.max_attempts == CHALLENGE_MAX_ATTEMPTS

    for _ in range(CHALLENGE_MAX_ATTEMPTS):
        with pytest.raises(WrongCode):
            answer_with(challenge, factor, user, wrong_code(secret))
        db.session.commit()

    row = stored(Challenge, challenge.id)
    assert row["status"] == "failed" and row["attempts"] == CHALLENGE_MAX_ATTEMPTS
    assert len(audit_rows(user, "challenge_failed", factor_id=factor.id)) == 1

    with pytest.raises(ChallengeFailed):  # even the right code: the challenge is spent
        answer_with(challenge, factor, user, right_code(secret))
    assert stored(Challenge, challenge.id) == row
    assert stored(Factor, factor.id)["totp_last_step"] is None


# --- throttle -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "backoff_after", "seconds"),
    [
        (0, 5, 0),
        (4, 5, 0),
        (5, 5, 2),
        (6, 5, 4),
        (7, 5, 8),
        (13, 5, 512),
        (14, 5, throttle.MAX_COOLDOWN),
        (99, 5, throttle.MAX_COOLDOWN),
        (1, 1, 2),
        (0, 1, 0),
    ],
)
def test_cooldown_doubles_from_the_back_off_threshold_up_to_its_cap(
    failures, backoff_after, seconds
):
    assert throttle.cooldown(failures, backoff_after) == seconds
    assert throttle.MAX_COOLDOWN == 900


def test_failures_below_the_back_off_threshold_do_not_block(user):
    factor = factor_in(user, ACTIVE)
    at = now()
    for _ in range(BACKOFF_AFTER - 1):
        throttle.failure(factor, at, user.sub)
    db.session.commit()
    throttle.check(db.session.get(Factor, factor.id), at)  # no exception


def test_after_backoff_after_failures_the_factor_cools_down_until_a_given_time(user):
    factor = factor_in(user, ACTIVE)
    at = now()
    for _ in range(BACKOFF_AFTER):
        throttle.failure(factor, at, user.sub)
    db.session.commit()
    db.session.expire_all()
    factor = db.session.get(Factor, factor.id)

    with pytest.raises(CoolingDown) as refused:
        throttle.check(factor, at)
    assert refused.value.until == at + throttle.cooldown(BACKOFF_AFTER, BACKOFF_AFTER) == at + 2
    assert "wait" in str(refused.value)
    with pytest.raises(CoolingDown):
        throttle.check(factor, refused.value.until - 1)
    throttle.check(factor, refused.value.until)  # over: no exception
    [event] = audit_rows(user, "factor_cooldown", factor_id=factor.id)
    assert event.detail["seconds"] == 2


def test_each_further_failure_doubles_the_cooldown(user):
    factor = factor_in(user, ACTIVE)
    at = now()
    waits = []
    for _ in range(BACKOFF_AFTER + 2):
        throttle.failure(factor, at, user.sub)
        waits.append((factor.blocked_until or at) - at)
    assert waits[-3:] == [2, 4, 8]


def test_wrong_answers_across_challenges_trigger_the_cooldown_and_refuse_the_right_code(user):
    factor, secret = totp_factor(user)
    for _ in range(BACKOFF_AFTER):
        challenge = challenge_in(user, ISSUED, factor)
        with pytest.raises(WrongCode):
            answer_with(challenge, factor, user, wrong_code(secret))
        db.session.commit()

    challenge = challenge_in(user, ISSUED, factor)
    with pytest.raises(CoolingDown) as refused:
        answer_with(challenge, factor, user, right_code(secret))
    assert refused.value.until > now()
    assert stored(Factor, factor.id)["totp_last_step"] is None
    assert stored(Challenge, challenge.id)["attempts"] == 0  # a refusal is not an attempt


def test_at_the_lockout_threshold_the_factor_is_locked_whatever_the_time(user):
    factor = factor_in(user, ACTIVE)
    at = now()
    for _ in range(LOCKOUT_THRESHOLD):
        throttle.failure(factor, at, user.sub)
    db.session.commit()
    db.session.expire_all()
    factor = db.session.get(Factor, factor.id)

    for when in (at, at + throttle.MAX_COOLDOWN + 1, at + 10**7):
        with pytest.raises(FactorLocked):
            throttle.check(factor, when)
    assert len(audit_rows(user, "factor_locked", factor_id=factor.id)) == 1


def test_one_failure_short_of_the_threshold_does_not_lock(user):
    factor = factor_in(user, ACTIVE)
    at = now()
    for _ in range(LOCKOUT_THRESHOLD - 1):
        throttle.failure(factor, at, user.sub)
    assert factor.locked_at is None
    throttle.check(factor, at + throttle.MAX_COOLDOWN + 1)  # only cooling down, and that ends


def test_unlock_lifts_the_lock_and_the_cooldown_and_is_audited(user):
    factor = factor_in(user, ACTIVE)
    at = now()
    for _ in range(LOCKOUT_THRESHOLD):
        throttle.failure(factor, at, user.sub)
    db.session.commit()

    throttle.unlock(factor, actor="admin@example.com", subject=user.sub)
    db.session.commit()
    db.session.expire_all()
    factor = db.session.get(Factor, factor.id)

    throttle.check(factor, at)  # no exception
    assert (factor.failures, factor.blocked_until, factor.locked_at) == (0, None, None)
    [event] = audit_rows(user, "factor_unlocked", factor_id=factor.id)
    assert event.actor == "admin@example.com"


def test_unlock_all_lifts_every_locked_factor_of_the_user(user):
    first, second, untouched = (
        factor_in(user, ACTIVE),
        factor_in(user, ACTIVE),
        factor_in(user, ACTIVE),
    )
    at = now()
    for factor in (first, second):
        for _ in range(LOCKOUT_THRESHOLD):
            throttle.failure(factor, at, user.sub)
    db.session.commit()

    assert throttle.unlock_all(user.id, actor="admin@example.com", subject=user.sub) == 2
    db.session.commit()
    for factor in (first, second, untouched):
        assert stored(Factor, factor.id)["locked_at"] is None
        throttle.check(db.session.get(Factor, factor.id), at)
