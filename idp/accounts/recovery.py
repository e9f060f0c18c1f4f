"""Recovery that needs two people: for a user who lost every second factor and backup code.

The rules (issue 14), enforced here for the console and the sign-in pages alike:

- Only someone past the password step asks (the views check that), or an admin starts one on
  the user's behalf, with a note, never for their own account (``start``). A user has at most
  one open request: asking or starting again finds it. Every admin is mailed, and so is the
  user (an attacker who knows the password learns nothing, and the owner is warned).
- Starting is not approving: the admin who started a request may give one of its approvals;
  the second must still come from a different admin (or none, where a single approval
  suffices), so one admin alone never recovers an account that requires MFA.
- Two different admins approve, each recording how they checked the user's identity (``approve``).
  Nobody decides a request for their own account; the first approver cannot approve again. With
  ``IDP_RECOVERY_SINGLE_APPROVER`` one approval suffices for a user whose effective policy does
  not require MFA. Any admin may deny, with a note.
- The final approval mails a single-use link, stored as a digest, valid ``IDP_RECOVERY_LINK_TTL``.
  Opening it (with the account's password, so the mailbox alone is not enough) spends it and
  allows exactly one thing: adding a new second factor of a kind the user's effective policy
  allows (``kinds``): an authenticator app (``start_totp``/``confirm``) or a passkey
  (``passkey_options``/``add_passkey``, attested when the policy requires it).
- Only when that new factor is confirmed (``complete``, one path for both kinds; its
  conditional UPDATE lets one finish win) do the old factors go, with the
  remembered browsers and every session; new backup codes are issued and the user is told. An
  abandoned recovery therefore changes nothing, and at no moment has the account no factor for
  a password holder to fill with their own.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from idp import audit, random_tokens
from idp.accounts import password_backoff, passwords, session_end, trusted_devices
from idp.accounts.policies import inputs
from idp.clock import now
from idp.extensions import db
from idp.factors import backup_codes, challenges, lifecycle, passkey, registry, totp
from idp.factors.answer import StaleChallenge
from idp.factors.base import FactorError, Verification
from idp.models import Factor, RecoveryRequest, Role, User, rate_limits
from idp.models.factor import FactorStatus, IllegalTransition
from idp.models.recovery import OPEN, RecoveryStatus
from idp.models.user import user_roles
from idp.notify import mail

ADMIN = "admin"


class RecoveryRefused(Exception):
    """A decision the rules refuse; the message is for the admin's page."""

    status = 403


class OwnAccount(RecoveryRefused):
    def __init__(self, act: str = "decide a recovery request") -> None:
        super().__init__(f"You cannot {act} for your own account.")


class SameApprover(RecoveryRefused):
    def __init__(self) -> None:
        super().__init__("You approved this request already: a different admin must approve.")


class NotOpen(RecoveryRefused):
    status = 409

    def __init__(self) -> None:
        super().__init__("This request is no longer waiting for a decision.")


# --- asking ---------------------------------------------------------------------------------


def open_request(user: User) -> RecoveryRequest | None:
    """The user's open request, once requests past their deadline are expired."""
    row = db.session.execute(
        select(RecoveryRequest).where(
            RecoveryRequest.user_id == user.id, RecoveryRequest.status.in_(OPEN)
        )
    ).scalar()
    return None if row is None or _expired(row) else row


def ask(user: User) -> tuple[RecoveryRequest, bool]:
    """The user's open request and whether it is new (then audited; the caller commits and
    calls ``announce``)."""
    row, created = _opened(user)
    if created:
        audit.record("recovery_requested", actor=user.email, subject=user.sub, request_id=row.id)
    return row, created


def start(user: User, admin: User, note: str) -> tuple[RecoveryRequest, bool]:
    """An admin opens a request on ``user``'s behalf (the user called the help desk); the
    open one if there is one. Audited with the admin as the actor and their note; the caller
    commits and calls ``announce(row, user, admin)``. It still needs the usual approvals."""
    if user.id == admin.id:
        raise OwnAccount("start a recovery")
    row, created = _opened(user)
    if created:
        audit.record("recovery_started", actor=admin.email, subject=user.sub, request_id=row.id,
                     note=note)  # fmt: skip
    return row, created


def _opened(user: User) -> tuple[RecoveryRequest, bool]:
    """The user's open request, or a new one (and ``True``). Two requests at once meet the
    partial unique index: one wins, the other finds it."""
    existing = open_request(user)
    if existing is not None:
        return existing, False
    row = RecoveryRequest(
        user_id=user.id, expires_at=now() + current_app.config["RECOVERY_REQUEST_TTL"]
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return open_request(user), False
    return row, True


def announce(row: RecoveryRequest, user: User, starter: User | None = None) -> None:
    """Mail every admin (what to check, where to decide) and warn the user; ``starter`` is
    the admin who started the request, if one did. No mail carries anything usable."""
    page = f"{current_app.config['ISSUER']}/admin/recovery/{row.id}"
    approvals = "One admin must" if _single_approver(user) else "Two different admins must"
    for admin in admins():
        mail.send(admin.email, "Account recovery waiting for approval",
                  _admin_mail(user, page, approvals, starter))  # fmt: skip
    if starter is None:
        mail.send(
            user.email,
            "Account recovery requested",
            "Someone who knows your password asked to recover your account because all its "
            "sign-in methods were lost. Two administrators will check your identity before "
            "anything changes.\n\nIf this was not you, change your password and contact your "
            "administrator.",
        )
        return
    mail.send(user.email, "Account recovery started", _started_mail(user, starter))


def _admin_mail(user: User, page: str, approvals: str, starter: User | None) -> str:
    who = (
        f"{starter.email} started a recovery for {user.email}, who lost every sign-in method."
        if starter
        else f"{user.email} lost every sign-in method and asks to recover their account."
    )
    return (
        f"{who}\n\n"
        "Check their identity through a channel you trust (in person, a call to a number on "
        f"record), then record how and approve or deny. {approvals} approve.\n\n{page}"
    )


def _started_mail(user: User, starter: User) -> str:
    if _single_approver(user):
        review = "An administrator will check your identity and approve it"
    else:
        review = (
            "Two administrators will check your identity and approve it (one may be "
            f"{starter.email}; the other must be a different administrator)"
        )
    return (
        f"The administrator {starter.email} started a recovery of your account, because all "
        f"its sign-in methods were lost. {review}, before anything changes. Expect them to "
        "contact you. If it is approved, you will get a link to add a new sign-in method."
        "\n\nIf you did not ask for this, contact your administrator."
    )


def admins() -> list[User]:
    query = (
        select(User)
        .join(user_roles, user_roles.c.user_id == User.id)
        .join(Role, Role.id == user_roles.c.role_id)
        .where(Role.name == ADMIN)
        .order_by(User.id)
    )
    return list(db.session.execute(query).scalars())


# --- the console ----------------------------------------------------------------------------


def listed() -> list[tuple[RecoveryRequest, User]]:
    """Open requests, oldest first, with their users (past-deadline ones are expired)."""
    rows = db.session.execute(
        select(RecoveryRequest, User)
        .join(User, User.id == RecoveryRequest.user_id)
        .where(RecoveryRequest.status.in_(OPEN))
        .order_by(RecoveryRequest.requested_at, RecoveryRequest.id)
    ).all()
    return [(row, user) for row, user in rows if not _expired(row)]


def open_count() -> int:
    """Open requests (the dashboard's figure; one past its deadline still counts until read)."""
    query = select(func.count()).where(RecoveryRequest.status.in_(OPEN))
    return db.session.execute(query).scalar_one()


def approve(row: RecoveryRequest, admin: User, note: str) -> str | None:
    """Record ``admin``'s approval; returns the link's secret when it is the final one (the
    caller commits, then calls ``send_link``)."""
    status = _decidable(row, admin)
    if status is RecoveryStatus.APPROVED_ONCE and row.first_approver_id == admin.id:
        raise SameApprover()
    user = db.session.get(User, row.user_id)
    first = status is RecoveryStatus.REQUESTED
    if first and not _single_approver(user):
        _move(row, RecoveryStatus.APPROVED_ONCE, first_approver_id=admin.id, first_note=note,
              first_approved_at=now())  # fmt: skip
        audit.record("recovery_approved", actor=admin.email, subject=user.sub, request_id=row.id,
                     approval=1, note=note)  # fmt: skip
        return None
    secret = random_tokens.token(32)
    stamp = {"first_approver_id": admin.id, "first_note": note, "first_approved_at": now()}
    _move(row, RecoveryStatus.APPROVED, decided_by_id=admin.id, decision_note=note,
          link_digest=random_tokens.digest(secret),
          expires_at=now() + current_app.config["RECOVERY_LINK_TTL"],
          **(stamp if first else {}))  # fmt: skip
    audit.record("recovery_approved", actor=admin.email, subject=user.sub, request_id=row.id,
                 approval=1 if first else 2, note=note, link_sent=True)  # fmt: skip
    return secret


def deny(row: RecoveryRequest, admin: User | None, note: str, *, actor: str = "") -> None:
    """Refuse the request (the caller commits, then the user is told by ``send_denial``).

    ``admin`` is the person deciding; None for an admin API client (named by ``actor``), which
    has no account of its own, so ``decided_by_id`` stays empty and the audit names it."""
    _decidable(row, admin)
    _move(row, RecoveryStatus.DENIED, decided_by_id=admin.id if admin else None,
          decision_note=note, finished_at=now())  # fmt: skip
    user = db.session.get(User, row.user_id)
    audit.record("recovery_denied", actor=admin.email if admin else actor, subject=user.sub,
                 request_id=row.id, note=note)  # fmt: skip


def cancel(row: RecoveryRequest, actor: User, note: str = "") -> None:
    """Withdraw an open request: the user themselves (found a factor again), or an admin who
    takes back a mailed, unused link. Withdrawing only stops it, so either may; the row keeps
    the approvals, the audit record the reason. The caller commits."""
    if not row.is_open or _expired(row):
        raise NotOpen()
    _move(row, RecoveryStatus.CANCELLED, finished_at=now())
    user = db.session.get(User, row.user_id)
    audit.record("recovery_cancelled", actor=actor.email, subject=user.sub, request_id=row.id,
                 **({"note": note} if note else {}))  # fmt: skip


def _decidable(row: RecoveryRequest, admin: User | None) -> RecoveryStatus:
    if admin is not None and row.user_id == admin.id:
        raise OwnAccount()
    status = RecoveryStatus(row.status)
    if status not in (RecoveryStatus.REQUESTED, RecoveryStatus.APPROVED_ONCE) or _expired(row):
        raise NotOpen()
    return status


def _single_approver(user: User) -> bool:
    """One approval suffices: allowed by the operator, and MFA is not required of ``user``."""
    allowed = current_app.config["RECOVERY_SINGLE_APPROVER"]
    return bool(allowed) and inputs(user).effective().mode != "required"


def link_of(secret: str) -> str:
    """The mailed link's address (``idp.views.signin.recovery.link``)."""
    return f"{current_app.config['ISSUER']}/recovery/link/{secret}"


def send_link(user: User, link: str) -> None:
    minutes = current_app.config["RECOVERY_LINK_TTL"] // 60
    mail.send(
        user.email,
        "Recover your account",
        "Two administrators checked your identity and approved your account recovery.\n\n"
        f"Open this link within {minutes} minutes to add a new sign-in method:\n{link}\n\n"
        "The link works once. Your old sign-in methods stop working when the new one is added.",
    )


def send_denial(row: RecoveryRequest) -> None:
    user = db.session.get(User, row.user_id)
    mail.send(
        user.email,
        "Account recovery denied",
        "An administrator denied the recovery of your account. Contact your administrator.",
    )


# --- the link -------------------------------------------------------------------------------


def by_link(secret: str) -> RecoveryRequest | None:
    """The approved request whose link this is, unopened and unexpired (nothing is spent)."""
    row = db.session.execute(
        select(RecoveryRequest).where(RecoveryRequest.link_digest == random_tokens.digest(secret))
    ).scalar()
    if row is None or row.status != RecoveryStatus.APPROVED or _expired(row):
        return None
    return row if row.link_opened_at is None else None


def knows_password(user: User, password: str) -> bool:
    """The link's second proof: the account's password, under the same per-account back-off
    as the sign-in page (``PasswordBackoff`` while it waits); a wrong one counts there too."""
    password_backoff.check(user.email)
    if passwords.verify(user.password_hash, password):
        return True
    password_backoff.failed(user.email, user)
    audit.record("recovery_link_opened", outcome="failure", actor=user.email, subject=user.sub,
                 reason="wrong password")  # fmt: skip
    return False


def open_link(row: RecoveryRequest, user: User) -> bool:
    """Spend the link (one conditional UPDATE: two clicks cannot both open it); audited."""
    opened = db.session.execute(
        update(RecoveryRequest)
        .where(
            RecoveryRequest.id == row.id,
            RecoveryRequest.status == RecoveryStatus.APPROVED.value,
            RecoveryRequest.link_opened_at.is_(None),
        )
        .values(link_opened_at=now())
        .execution_options(synchronize_session=False)
    )
    if opened.rowcount != 1:
        return False
    audit.record("recovery_link_opened", actor=user.email, subject=user.sub, request_id=row.id)
    return True


def enrolling(request_id: int | None, user_id: int | None) -> RecoveryRequest | None:
    """The opened, unfinished, unexpired request a browser's recovery state names."""
    row = db.session.get(RecoveryRequest, request_id or 0)
    if row is None or row.user_id != user_id or row.link_opened_at is None:
        return None
    return row if row.status == RecoveryStatus.APPROVED and not _expired(row) else None


def kinds(user: User) -> list[str]:
    """The kinds of factor this recovery may add: those the user's effective policy counts
    (a factor it does not count would only ask for another at the next sign-in). Checked
    before the link is spent; an attested-only policy is the passkey ceremony's to enforce."""
    policy = inputs(user).effective()
    return [kind for kind in (passkey.NAME, totp.KIND.name) if policy.allows(kind)]


def start_totp(user: User, abandoned: Factor | None) -> Factor:
    """A pending authenticator app for this recovery; an earlier unfinished one of it is
    abandoned (pending -> revoked)."""
    if abandoned is not None and abandoned.status == FactorStatus.PENDING.value:
        lifecycle.move(abandoned, FactorStatus.REVOKED, actor=user.email, subject=user.sub,
                       reason="abandoned")  # fmt: skip
    factor, _ = totp.enroll(user, "Authenticator app")
    return factor


def challenge(user: User, factor: Factor, binding: str) -> str:
    """The id of a challenge the pending factor's first code answers, bound to this browser's
    recovery (``binding``) instead of a sign-in session."""
    return challenges.issue(user, binding, factor, factor.kind, challenges.ENROLL).id


def confirm(
    user: User, factor: Factor, binding: str, challenge_id: str, code: str, address: str | None
) -> Verification:
    """Answer the new factor's challenge (the attempt limit, back-off and rate limit of every
    second-factor step); ``FactorError`` on a wrong or stale answer, after committing what it
    counted."""
    rate_limits.per_minute("second_factor", address)
    challenge = challenges.find(challenge_id, binding)
    if challenge is None or (challenge.factor_id, challenge.purpose) != (
        factor.id,
        challenges.ENROLL,
    ):
        raise StaleChallenge()
    locked = challenges.locked(factor)
    try:
        return challenges.answer(challenge, locked, user, lambda: totp.verify(locked, code, now()))
    except FactorError:
        db.session.commit()  # keep the attempt count, the back-off and the audit rows
        raise


def passkey_options(user: User, binding: str) -> tuple[str, dict]:
    """A passkey registration ceremony for this recovery: its challenge id and the options
    for ``navigator.credentials.create`` (direct attestation when the policy requires it),
    the challenge bound to this browser's recovery. The caller commits."""
    row, options = passkey.registration_options(user, binding)
    return row.id, options


def add_passkey(
    user: User, binding: str, challenge_id: str, credential: object, name: str,
    address: str | None,
) -> Factor:  # fmt: skip
    """Verify the browser's attestation and store the passkey (``passkey.register``: active
    at once, in this transaction, which ``complete`` then finishes or a lost race rolls
    back). ``FactorError`` on a refusal, after committing what it counted."""
    rate_limits.per_minute("second_factor", address)
    challenge = challenges.find(challenge_id, binding)
    if challenge is None or (challenge.kind, challenge.purpose) != (
        passkey.NAME,
        challenges.ENROLL,
    ):
        raise StaleChallenge()
    try:
        factor, _ = passkey.register(challenge, user, credential, name)
    except FactorError:
        db.session.commit()  # keep the challenge's attempt count and the audit rows
        raise
    return factor


def complete(row: RecoveryRequest, user: User, factor: Factor) -> list[str]:
    """The recovery takes effect, whichever kind ``factor`` is: it is active, every other
    factor (an abandoned pending one too) revoked, new backup codes issued (returned, shown
    once), remembered browsers forgotten, every session ended. The caller commits, then calls
    ``send_done``. ``NotOpen`` when the request was finished meanwhile (another tab, the other
    kind), cancelled or expired: the conditional UPDATE lets one finish win."""
    _move(row, RecoveryStatus.USED, finished_at=now())
    actor = user.email
    if factor.status == FactorStatus.PENDING.value:  # a passkey is active once registered
        lifecycle.move(factor, FactorStatus.ACTIVE, actor=actor, subject=user.sub,
                       reason="verified")  # fmt: skip
    for old in registry.factors(user, FactorStatus.ACTIVE, FactorStatus.PENDING):
        if old.id != factor.id and registry.routine(old):
            lifecycle.move(old, FactorStatus.REVOKED, actor=actor, subject=user.sub,
                           reason="recovery")  # fmt: skip
    codes = backup_codes.generate(user, actor=actor)
    trusted_devices.revoke(user, actor=actor, reason="recovery")
    session_end.end_all(user, reason="recovery", actor=actor)
    audit.record("recovery_used", actor=actor, subject=user.sub, request_id=row.id,
                 factor_id=factor.id)  # fmt: skip
    return codes


def send_done(user: User, factor: Factor) -> None:
    mail.send(
        user.email,
        "Security change on your account",
        f"Your account was recovered: {factor.name} is now your sign-in method and your old "
        "ones, your backup codes and your remembered browsers no longer work; you were signed "
        "out everywhere.\n\nIf this was not you, contact your administrator at once.",
    )


# --- moves ----------------------------------------------------------------------------------


def _move(row: RecoveryRequest, to: RecoveryStatus, **stamp: object) -> None:
    """``row`` to ``to``; a lost race reads as "no longer waiting" (``NotOpen``)."""
    try:
        row.transition(to, **stamp)
    except IllegalTransition as exc:
        raise NotOpen() from exc


def _expired(row: RecoveryRequest) -> bool:
    """Whether ``row`` is open but past its deadline; if so it moves to expired (audited)."""
    if not row.is_open or row.expires_at > now():
        return False
    try:
        row.transition(RecoveryStatus.EXPIRED, finished_at=now())
    except IllegalTransition:
        return True  # moved meanwhile: not open for this caller either way
    user = db.session.get(User, row.user_id)
    audit.record("recovery_expired", subject=user.sub if user else None, request_id=row.id)
    return True
