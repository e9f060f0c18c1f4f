"""What an admin does to one user (issue 14), shared by the console's user page
(``idp.views.admin.user_actions``) and its CLI twins (``idp.cli.users_admin``).

Each action is one unit: it changes the account, audits the change with the acting admin, the
user's ``sub`` and the state before and after, commits, and only then mails the user a notice,
so the console and the CLI do exactly the same and a notice never tells of a change that was
rolled back. The moves reuse the paths the user's own pages take: factors go through the
factor state machine (``registry.revoke``), sessions end through ``session_end`` (tokens and
back-channel logout with them), browsers are forgotten through ``trusted_devices``, reset
links are the "forgot password" page's own (``users.mail_password_reset``). Bad input raises
``LookupError`` (no such factor, browser) or ``ValueError`` (refused), which the CLI prints in
one line and the console shows on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from idp import audit
from idp.accounts import password_backoff, policies, session_end, trusted_devices, users
from idp.clock import now
from idp.extensions import db
from idp.factors import lifecycle, registry, throttle
from idp.models import Factor, Token, User
from idp.models.factor import FactorStatus
from idp.models.tokens import revoke_where
from idp.notify.security import notify

#: The ``reason`` of every move an admin makes, in the audit log.
BY_ADMIN = "by_admin"
REASON_MAX = 500


def revoke_factor(user: User, factor_id: int, *, actor: str) -> Factor:
    """Revoke one active second factor of ``user`` (any kind, backup codes too): it is refused
    at their next sign-in. The user's last routine factor takes their backup codes with it."""
    factor = registry.owned(user, factor_id)
    if factor is None:
        raise LookupError(f"{user.email} has no active sign-in method {factor_id}")
    registry.revoke(user, factor, actor=actor, reason=BY_ADMIN)
    db.session.commit()
    notify(user, f"An administrator removed a sign-in method from your account: {factor.name}.")
    return factor


def reset_factors(user: User, *, actor: str) -> list[Factor]:
    """Revoke every second factor of ``user``, pending ones too (a lost phone, a takeover): at
    their next sign-in a policy that requires one has them enroll a new one."""
    factors = registry.factors(user, FactorStatus.ACTIVE, FactorStatus.PENDING)
    for factor in factors:
        lifecycle.move(factor, FactorStatus.REVOKED, actor=actor, subject=user.sub, reason=BY_ADMIN)
    audit.record(
        "factors_reset", actor=actor, subject=user.sub,
        before=sorted(f.id for f in factors), after=[],
    )  # fmt: skip
    db.session.commit()
    if factors:
        notify(user, "An administrator removed every sign-in method from your account.")
    return factors


def forget_browser(user: User, device_id: int, *, actor: str) -> None:
    """Forget one remembered browser of ``user``: it is asked for a second factor again."""
    if not trusted_devices.revoke(user, actor=actor, device_id=device_id, reason=BY_ADMIN):
        raise LookupError(f"{user.email} has no remembered browser {device_id}")
    db.session.commit()


def end_sessions(user: User, *, actor: str) -> int:
    """End every sign-in session of ``user`` (their online tokens and back-channel logout go
    with them, ``session_end``); returns how many."""
    ended = session_end.end_all(user, reason="ended_by_admin", actor=actor)
    db.session.commit()
    return ended


@dataclass(frozen=True)
class Unlocked:
    factors: int  # how many locked factors were unlocked
    password_backoff: bool  # whether a password back-off was waiting


def unlock(user: User, *, actor: str) -> Unlocked:
    """Lift the lock of ``user``'s factors and the wait on their password.

    The back-off goes too: the admin who unlocks has checked who asked (as for the factor
    lock), and a password wait left in place would keep the person out for up to
    ``PASSWORD_BACKOFF_MAX`` (or until a reset, past ``PASSWORD_LOCKOUT_THRESHOLD``). It is
    keyed by the email, so a guesser's next wrong passwords start a new run.
    """
    count = throttle.unlock_all(user.id, actor=actor, subject=user.sub)
    waited = password_backoff.cleared(user.email)
    if waited:
        audit.record(
            "password_backoff_cleared", actor=actor, subject=user.sub,
            before="waiting", after="cleared",
        )  # fmt: skip
    db.session.commit()
    return Unlocked(count, waited)


def self_disable(actor: User, target: User) -> str | None:
    """Why the console refuses to disable ``target``: it is the admin themselves."""
    if actor.id == target.id:
        return "You cannot disable your own account here; another admin can."
    return None


def disable(user: User, *, actor: str, reason: str = "") -> bool:
    """Disable ``user``'s account (``User.enabled`` is false): sign-in is refused, every
    session ends and every token is revoked, offline ones too, so nothing comes back when the
    account is enabled again. Returns ``False`` if it was disabled already."""
    if not user.enabled:
        return False
    before = _state(user)
    user.disabled_at, user.disabled_reason = now(), reason.strip()[:REASON_MAX] or None
    ended = session_end.end_all(user, reason="account_disabled", actor=actor)
    revoked = revoke_where(Token.user_id == user.id)
    audit.record(
        "account_disabled", actor=actor, subject=user.sub, before=before, after=_state(user),
        sessions_ended=ended, tokens_revoked=revoked,
    )  # fmt: skip
    db.session.commit()
    return True


def enable(user: User, *, actor: str) -> bool:
    """Let ``user`` sign in again; returns ``False`` if the account was not disabled."""
    if user.enabled:
        return False
    before = _state(user)
    user.disabled_at = user.disabled_reason = None
    audit.record(
        "account_enabled", actor=actor, subject=user.sub, before=before, after=_state(user)
    )
    db.session.commit()
    return True


def _state(user: User) -> dict:
    return {"disabled": not user.enabled, "reason": user.disabled_reason}


def send_reset_link(user: User, *, actor: str) -> None:
    """Mail ``user`` the single-use link the "forgot password" page sends (audited as
    ``password_reset_requested`` by ``actor``). A reset sets a password only: the second
    factor is still asked at the next sign-in."""
    users.mail_password_reset(user, actor=actor)


def end_of_day(day: date) -> int:
    """The end of ``day`` (UTC): an override "until" a date lasts through that day."""
    after = day + timedelta(days=1)
    return int(datetime(after.year, after.month, after.day, tzinfo=UTC).timestamp())


def set_override(user: User, kind: str, until: int, reason: str, *, actor: str) -> None:
    """Exempt ``user`` from MFA, or require it, until ``until`` (``policies.set_override``:
    audited with before and after; ``ValueError`` for a past end or no reason)."""
    policies.set_override(user, kind, until, reason, actor=actor)
    db.session.commit()


def clear_override(user: User, *, actor: str) -> bool:
    cleared = policies.clear_override(user, actor=actor)
    db.session.commit()
    return cleared
