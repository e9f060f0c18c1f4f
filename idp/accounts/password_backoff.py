"""Per-account back-off for wrong passwords, from any address (NIST SP 800-63B 5.2.2).

The per-address limiter slows one address; this slows guessing one account from many. The
``PASSWORD_BACKOFF_AFTER``-th consecutive failure starts a wait of ``PASSWORD_BACKOFF_FIRST``
seconds during which the password is not even checked; each further failure doubles it (capped
at ``PASSWORD_BACKOFF_MAX``); at
``PASSWORD_LOCKOUT_THRESHOLD`` (at most 100) password sign-in waits for a password reset by
email. It is keyed by the typed email whether or not an account has it, so an unknown email is
treated alike and nothing is revealed. It must not become a lock-out tool: the page says when
to try again, a reset by email (or a passkey) always works, and the owner is mailed after
``PASSWORD_FAILURE_NOTICE`` failures. Counters are rows shared by every worker; a successful
sign-in or a new password deletes them, and rows quiet for ``PASSWORD_FAILURES_KEPT`` seconds
are deleted unless they reached the lock.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.models import PasswordFailures, User
from idp.notify.security import notify


class PasswordBackoff(Exception):
    """Password sign-in for this email waits: until ``until``, or (``None``) for a reset."""

    def __init__(self, until: int | None) -> None:
        self.until = until
        if until is None:
            text = "Too many failed sign-ins for this account. Reset your password to sign in."
        else:
            at = datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S UTC")
            text = (
                f"Too many failed sign-ins for this account. Try again after {at}, "
                "or reset your password."
            )
        super().__init__(text)

    @property
    def retry_after(self) -> int:
        return max(1, (self.until or now() + 3600) - now())


def key(email: str) -> str:
    """The row's key for ``email``: a digest, so the table names nobody (the dashboard looks
    up the emails it read in the audit log)."""
    return hashlib.sha256(User.normalize_email(email).encode()).hexdigest()


def check(email: str) -> None:
    """Refuse before the password is checked while this email waits."""
    row = db.session.get(PasswordFailures, key(email))
    if row is None:
        return
    if row.failures >= current_app.config["PASSWORD_LOCKOUT_THRESHOLD"]:
        raise PasswordBackoff(None)
    if row.blocked_until is not None and row.blocked_until > now():
        raise PasswordBackoff(row.blocked_until)


def failed(email: str, user: User | None) -> PasswordBackoff | None:
    """Count a wrong password for ``email``; the wait it starts, if any (audited)."""
    at, cfg = now(), current_app.config
    failures = _count(email, at)
    if failures == 1:
        _forget_quiet(at)
    if user is not None and failures == cfg["PASSWORD_FAILURE_NOTICE"]:
        notify(user, f"{failures} sign-ins with a wrong password were tried on your account.")
    wait = _wait(failures)
    if wait is None:
        return None
    row = db.session.get(PasswordFailures, key(email))
    row.blocked_until = at + wait if wait else None
    audit.record(
        "password_backoff", outcome="failure", actor=User.normalize_email(email)[:320],
        subject=user.sub if user else None, failures=failures, seconds=wait or None,
    )  # fmt: skip
    return PasswordBackoff(row.blocked_until)


def cleared(email: str) -> bool:
    """A successful sign-in, a new password or an admin's unlock ends the run of failures;
    whether there was one."""
    ended = db.session.execute(delete(PasswordFailures).where(PasswordFailures.key == key(email)))
    return ended.rowcount > 0


def _count(email: str, at: int) -> int:
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(PasswordFailures).values(key=key(email), failures=1, last_failure_at=at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"failures": PasswordFailures.failures + 1, "last_failure_at": at},
    ).returning(PasswordFailures.failures)
    return db.session.execute(stmt).scalar_one()


def _wait(failures: int) -> int | None:
    """Seconds to wait after ``failures`` (None: no wait yet; 0: until a reset)."""
    cfg = current_app.config
    if failures >= cfg["PASSWORD_LOCKOUT_THRESHOLD"]:
        return 0
    if failures < cfg["PASSWORD_BACKOFF_AFTER"]:
        return None
    first = cfg["PASSWORD_BACKOFF_FIRST"] * 2 ** (failures - cfg["PASSWORD_BACKOFF_AFTER"])
    return min(cfg["PASSWORD_BACKOFF_MAX"], first)


def _forget_quiet(at: int) -> None:
    """Rows with no failure for ``PASSWORD_FAILURES_KEPT`` seconds go, unless locked."""
    cfg = current_app.config
    db.session.execute(
        delete(PasswordFailures).where(
            PasswordFailures.last_failure_at < at - cfg["PASSWORD_FAILURES_KEPT"],
            PasswordFailures.failures < cfg["PASSWORD_LOCKOUT_THRESHOLD"],
        )
    )
