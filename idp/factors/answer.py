"""The second-factor step: one path for every kind, at sign-in and when a factor is added.

    rate limit (per address) -> find the challenge (this sign-in session's, for this factor and
    purpose) -> lock the factor -> back-off -> verify (the kind's verifier) -> settle the
    challenge (single use) -> throttle -> record the authentication event -> audit

A refusal commits what it counted (the address's hit, the challenge's attempts, the factor's
back-off, the audit rows) and raises ``FactorError``, so every page keeps the same evidence. A
success returns the ``AuthenticationEvent`` uncommitted: the caller commits with what it adds
(a remembered browser, the first backup codes). Factors speak no HTTP: the view hands in what
the request says (``Attempt``); the views only turn the result into a page or a redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.factors import challenges, kinds, lifecycle, throttle
from idp.factors.base import FactorError, Verification
from idp.models import AuthenticationEvent, Factor, LoginSession, User, rate_limits
from idp.models.factor import FactorStatus


class StaleChallenge(FactorError):
    """No challenge of this sign-in session asks this factor for this purpose (an old page, a
    page of another session, a forged id): nothing to answer."""

    def __init__(self) -> None:
        super().__init__("This step is no longer valid. Start it again.")


@dataclass(frozen=True)
class Attempt:
    """One answer to a factor's challenge, with what the request says about it."""

    user: User
    login_session: LoginSession
    factor: Factor
    challenge_id: str
    response: Any  # the typed code, or the WebAuthn assertion
    client_address: str | None


def sign_in(attempt: Attempt) -> AuthenticationEvent:
    """Answer an active factor at sign-in; the event joins the sign-in session.

    A backup code is a successful recovery: it lifts the locks of the user's other factors.
    """
    user, factor = attempt.user, attempt.factor
    result = _answer(attempt, challenges.SIGNIN)
    event = attempt.login_session.authenticated(result.method, list(result.amr), now())
    audit.record("second_factor_passed", actor=user.email, subject=user.sub, method=result.method)
    if not kinds.of(factor.kind).routine:
        throttle.unlock_all(user.id, actor=user.email, subject=user.sub)
    return event


def enrollment(attempt: Attempt) -> AuthenticationEvent:
    """Answer the challenge of a pending factor: the right answer activates it."""
    user, factor = attempt.user, attempt.factor
    result = _answer(attempt, challenges.ENROLL)
    lifecycle.move(
        factor, FactorStatus.ACTIVE, actor=user.email, subject=user.sub, reason="verified"
    )
    return enrolled(attempt.login_session, result)


def enrolled(login_session: LoginSession, result: Verification) -> AuthenticationEvent:
    """A factor just activated by answering it: that proof of possession counts as a second
    factor in this sign-in session (no second prompt right after adding one), with the amr of
    that very answer (a passkey's ``user`` only when its registration verified the user)."""
    return login_session.authenticated(result.method, list(result.amr), now())


def _answer(attempt: Attempt, purpose: str) -> Verification:
    try:
        return _settle(attempt, purpose)
    except FactorError:
        db.session.commit()  # keep the hit, the attempt count, the back-off and the audit rows
        raise


def _settle(attempt: Attempt, purpose: str) -> Verification:
    rate_limits.per_minute("second_factor", attempt.client_address)
    challenge = challenges.find(attempt.challenge_id, attempt.login_session.id)
    if challenge is None or (challenge.factor_id, challenge.purpose) != (
        attempt.factor.id,
        purpose,
    ):
        raise StaleChallenge()
    factor, user = challenges.locked(attempt.factor), attempt.user
    kind = kinds.of(factor.kind)
    return challenges.answer(
        challenge, factor, user, lambda: kind.verify(challenge, factor, user, attempt.response)
    )
