"""Codes sent by email or SMS: the shared logic of both factor kinds.

Rules enforced here (issue 3; NIST SP 800-63B 5.1.3 out-of-band authenticators):

- A code is 6 digits from ``secrets``. Only ``HMAC-SHA256(salt, code)`` with a random salt per
  challenge is stored (``Challenge.secret``), compared in constant time.
- It lives ``IDP_DELIVERED_CODE_TTL`` seconds (at most 600) and is answered once, through
  ``challenges.answer`` (attempt limit, back-off, atomic "issued -> verified"), and only by the
  sign-in session that asked for it (``challenges.find``).
- A new code for the same session, factor and purpose moves the previous one to expired; typing
  the previous code then says it expired.
- Sends are rate limited: one per ``IDP_DELIVERED_CODE_RESEND_INTERVAL`` and at most
  ``IDP_DELIVERED_CODE_MAX_SENDS`` per ``IDP_DELIVERED_CODE_SEND_WINDOW``, per factor at sign-in
  and per user and kind during enrollment (where each attempt is a new pending factor).
- An address or phone number becomes a factor only after its first code is verified; both are
  encrypted in ``Factor.secret`` (a phone number in E.164); ``Factor.data`` holds only the
  masked form.

The plaintext code exists only in memory, in an ``Outgoing`` that is handed to ``deliver`` after
the challenge is committed (so no database lock is held while SMTP or the webhook answers).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.factors import challenges, kinds, lifecycle, throttle
from idp.factors.base import FactorError, Verification, WrongCode
from idp.factors.challenges import ENROLL, SIGNIN
from idp.keys.encryption import factor_aad, keyring
from idp.models import Challenge, Factor, User, rate_limits
from idp.models.factor import ChallengeStatus, FactorKind, IllegalTransition
from idp.notify import mail, sms

log = logging.getLogger(__name__)

EMAIL, SMS = FactorKind.EMAIL.value, FactorKind.SMS.value
KINDS = frozenset({EMAIL, SMS})
DIGITS = 6
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")  # ITU-T E.164: "+", country code, at most 15 digits
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_HASH_VERSION = "hs1"


class SendLimited(FactorError):
    """Too many codes for this factor lately; ``until`` is when the next one may be sent."""

    def __init__(self, until: int, at: int) -> None:
        self.until = until
        self.retry_after = max(1, until - at)
        if self.retry_after < 120:
            wait = f"{self.retry_after} second{'s' if self.retry_after > 1 else ''}"
        else:
            wait = f"{-(-self.retry_after // 60)} minutes"
        clock = datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S UTC")
        super().__init__(
            f"We already sent you a code recently. You can ask for a new code in {wait} "
            f"(after {clock})."
        )


class DeliveryFailed(FactorError):
    def __init__(self) -> None:
        super().__init__("We could not send the code just now. Try again in a moment.")


class CodeSuperseded(FactorError):
    def __init__(self) -> None:
        super().__init__(
            "That code has expired because we sent you a newer one. Enter the newest code."
        )


@dataclass(frozen=True)
class Outgoing:
    """One code on its way out; ``to`` and ``code`` stay out of ``repr`` (and so of logs)."""

    kind: str
    purpose: str
    factor_id: int
    to: str = field(repr=False)
    code: str = field(repr=False)


# --- addresses and numbers --------------------------------------------------------------


def normalize_phone(text: str) -> str | None:
    """``text`` as E.164 (``+`` and digits, spaces, dots, dashes, brackets removed), or None."""
    number = _PHONE_SEPARATORS.sub("", text or "")
    if number.startswith("00"):
        number = "+" + number[2:]
    return number if E164.match(number) else None


def mask_email(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}•••@{domain}"


def mask_phone(number: str) -> str:
    return f"+•••• {number[-4:]}"


def masked(factor: Factor) -> str:
    return (factor.data or {}).get("masked", "")


def destination(factor: Factor) -> str:
    """Where the codes go, decrypted only to send: the address or the phone number."""
    return keyring().decrypt(factor.secret, factor_aad(factor.id, factor.kind)).decode()


def seal_addresses() -> int:
    """Encrypt the email addresses that older versions kept in clear in ``Factor.data``, as a
    phone number is (run by ``idp db upgrade``); returns how many were sealed."""
    rows = db.session.execute(select(Factor).where(Factor.kind == EMAIL)).scalars()
    sealed = 0
    for factor in rows:
        data = dict(factor.data or {})
        address = data.pop("address", None)
        if address is None:
            continue
        factor.secret = keyring().encrypt(address.encode(), factor_aad(factor.id, factor.kind))
        factor.data = data
        sealed += 1
    return sealed


# --- enrollment -------------------------------------------------------------------------


def enroll(user: User, kind: str, to: str, name: str) -> Factor:
    """A pending factor for an address or an E.164 number; it counts for nothing until a code
    sent to it comes back and the caller moves it to active."""
    if kind not in KINDS:
        raise ValueError(f"not a delivered-code kind: {kind}")
    masked_to = mask_email(to) if kind == EMAIL else mask_phone(to)
    factor = Factor(user_id=user.id, kind=kind, name=name, data={"masked": masked_to})
    db.session.add(factor)
    db.session.flush()
    factor.secret = keyring().encrypt(to.encode(), factor_aad(factor.id, kind))
    audit.record("enrollment_started", subject=user.sub, factor_id=factor.id, kind=kind)
    return factor


# --- sending ----------------------------------------------------------------------------


def live_challenge(factor: Factor, login_session_id: str, purpose: str) -> Challenge | None:
    """The newest unexpired, unsettled code of this session for this factor, if any."""
    return db.session.execute(
        select(Challenge)
        .where(
            Challenge.factor_id == factor.id,
            Challenge.login_session_id == login_session_id,
            Challenge.purpose == purpose,
            Challenge.status == ChallengeStatus.ISSUED.value,
            Challenge.expires_at > now(),
        )
        .order_by(Challenge.issued_at.desc())
        .limit(1)
    ).scalar()


def begin_enrollment(
    user: User, kind: str, to: str, name: str, login_session_id: str
) -> tuple[Factor, Outgoing]:
    """A pending factor for ``to`` and its first code, within the user's enrollment limits."""
    at = now()
    _serialise_sends(user)
    _check_send_rate(user, kind, None, ENROLL, at)
    factor = enroll(user, kind, to, name)
    return factor, _issue(user, factor, login_session_id, ENROLL, at)


def start(user: User, factor: Factor, login_session_id: str, purpose: str) -> Outgoing:
    """Issue a new code (superseding this session's previous one) within the send limits.

    Raises ``SendLimited`` (and at sign-in ``CoolingDown``/``FactorLocked``); the caller
    commits, then calls ``deliver``.
    """
    at = now()
    _serialise_sends(user)
    if purpose == SIGNIN:
        throttle.check(factor, at)
    _check_send_rate(user, factor.kind, factor.id, purpose, at)
    _supersede(user, factor, login_session_id, purpose)
    return _issue(user, factor, login_session_id, purpose, at)


def _issue(user: User, factor: Factor, login_session_id: str, purpose: str, at: int) -> Outgoing:
    code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
    row = challenges.issue(user, login_session_id, factor, factor.kind, purpose, _hash(code))
    row.expires_at = at + current_app.config["DELIVERED_CODE_TTL"]
    return Outgoing(factor.kind, purpose, factor.id, destination(factor), code)


def deliver(outgoing: Outgoing) -> None:
    """Send the code by mail or SMS; ``DeliveryFailed`` (logged without the code) otherwise."""
    try:
        if outgoing.kind == EMAIL:
            mail.send(outgoing.to, *_mail(outgoing))
        else:
            template = current_app.config["SMS_TEMPLATE"]
            sms.sender().send(outgoing.to, sms.render(template, outgoing.code))
    except (OSError, sms.SmsDeliveryError) as exc:
        log.warning(
            "could not deliver a %s code for factor %s: %s",
            outgoing.kind, outgoing.factor_id, exc if isinstance(exc, sms.SmsDeliveryError)
            else type(exc).__name__,
        )  # fmt: skip
        raise DeliveryFailed() from None


def send(
    user: User, factor: Factor, login_session_id: str, purpose: str, client_address: str | None
) -> FactorError | None:
    """Issue and deliver a new code; returns the refusal (limit, lock, failed delivery) or None.

    Commits twice: the challenge before delivering (no lock is held while the mail server or
    the webhook answers), then what the refusal recorded.
    """
    rate_limits.per_minute("code_send", client_address)
    try:
        outgoing = start(user, factor, login_session_id, purpose)
    except FactorError as error:
        db.session.commit()  # keep the audit record of the refusal
        return error
    db.session.commit()
    return deliver_or_abandon(user, factor, login_session_id, outgoing)


def deliver_or_abandon(
    user: User, factor: Factor, login_session_id: str, outgoing: Outgoing
) -> DeliveryFailed | None:
    """Deliver a committed code; one that could not be sent is expired, not left waiting."""
    try:
        deliver(outgoing)
    except DeliveryFailed as error:
        row = live_challenge(factor, login_session_id, outgoing.purpose)
        if row is not None:
            abandon(row, user)
        db.session.commit()
        return error
    return None


def abandon(challenge: Challenge, user: User) -> None:
    """Move an issued code to expired: superseded by a new one, or never delivered."""
    with suppress(IllegalTransition):  # settled concurrently: nothing left to wait for
        lifecycle.settle(challenge, ChallengeStatus.EXPIRED, subject=user.sub)


def _mail(outgoing: Outgoing) -> tuple[str, str]:
    minutes = max(1, current_app.config["DELIVERED_CODE_TTL"] // 60)
    if outgoing.purpose == ENROLL:
        return (
            "Your idp confirmation code",
            f"Your idp confirmation code is {outgoing.code}\n\nEnter it on the page that asked "
            f"for it within {minutes} minutes. If you did not ask for it, ignore this mail.",
        )
    return (
        "Your idp sign-in code",
        f"Your idp sign-in code is {outgoing.code}\n\nIt works once, within {minutes} minutes. "
        "If you are not signing in right now, someone knows your password: change it.",
    )


def _serialise_sends(user: User) -> None:
    """Lock the user's row so two concurrent sends cannot both pass the rate check (on SQLite
    the write lock taken at BEGIN already does)."""
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())


def _check_send_rate(user: User, kind: str, factor_id: int | None, purpose: str, at: int) -> None:
    """Per factor at sign-in; per user and kind in enrollment (each try is a new factor)."""
    cfg = current_app.config
    window = cfg["DELIVERED_CODE_SEND_WINDOW"]
    scope = (
        [Challenge.factor_id == factor_id]
        if purpose == SIGNIN
        else [Challenge.user_id == user.id, Challenge.kind == kind]
    )
    sent = db.session.execute(
        select(Challenge.issued_at)
        .where(*scope, Challenge.purpose == purpose, Challenge.issued_at > at - window)
        .order_by(Challenge.issued_at)
    ).scalars()
    times = list(sent)
    until = 0
    if times and times[-1] + cfg["DELIVERED_CODE_RESEND_INTERVAL"] > at:
        until = times[-1] + cfg["DELIVERED_CODE_RESEND_INTERVAL"]
    if len(times) >= cfg["DELIVERED_CODE_MAX_SENDS"]:
        until = max(until, times[-cfg["DELIVERED_CODE_MAX_SENDS"]] + window)
    if until:
        audit.record(
            "code_send_limited", outcome="failure", subject=user.sub, factor_id=factor_id,
            kind=kind, purpose=purpose,
        )  # fmt: skip
        raise SendLimited(until, at)


def _supersede(user: User, factor: Factor, login_session_id: str, purpose: str) -> None:
    """The previous codes of this session for this factor move to expired (a resend)."""
    rows = db.session.execute(
        select(Challenge).where(
            Challenge.factor_id == factor.id,
            Challenge.login_session_id == login_session_id,
            Challenge.purpose == purpose,
            Challenge.status == ChallengeStatus.ISSUED.value,
        )
    ).scalars()
    for row in list(rows):
        abandon(row, user)


# --- verifying --------------------------------------------------------------------------


def verify(challenge: Challenge, code: str) -> Verification:
    """Check a typed code against the challenge's digest (for ``challenges.answer``).

    A code of a superseded challenge of the same session says so instead of "not right".
    """
    candidate = "".join(code.split()).replace("-", "")
    if _matches(challenge.secret, candidate):
        return kinds.of(challenge.kind).verification(challenge.factor_id)
    if _superseded(challenge, candidate):
        raise CodeSuperseded()
    raise WrongCode()


def _superseded(challenge: Challenge, candidate: str) -> bool:
    rows = db.session.execute(
        select(Challenge.secret).where(
            Challenge.factor_id == challenge.factor_id,
            Challenge.login_session_id == challenge.login_session_id,
            Challenge.purpose == challenge.purpose,
            Challenge.status == ChallengeStatus.EXPIRED.value,
            Challenge.id != challenge.id,
            Challenge.issued_at > now() - current_app.config["DELIVERED_CODE_TTL"],
        )
    ).scalars()
    return any(_matches(secret, candidate) for secret in rows)


def _hash(code: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hmac.new(salt, code.encode(), hashlib.sha256).hexdigest()
    return f"{_HASH_VERSION}${base64.urlsafe_b64encode(salt).decode()}${digest}"


def _matches(stored: str | None, candidate: str) -> bool:
    """Constant-time comparison of ``candidate`` with a stored ``hs1$salt$hex`` digest."""
    try:
        version, salt, _ = (stored or "").split("$")
    except ValueError:
        return False
    if version != _HASH_VERSION:
        return False
    if not (len(candidate) == DIGITS and candidate.isascii() and candidate.isdigit()):
        candidate = ""  # still compared, so a malformed answer takes as long as a wrong one
    expected = _hash(candidate, base64.urlsafe_b64decode(salt))
    return hmac.compare_digest(expected, stored) and bool(candidate)


def _answer(challenge: Challenge, factor: Factor, user: User, code: Any) -> Verification:
    return verify(challenge, str(code))


#: RFC 8176 values: both are "otp"; SMS adds "sms" (confirmation by text message).
EMAIL_KIND = kinds.declare(
    kinds.Kind(
        name=EMAIL,
        label="Email code",
        method="email_otp",
        amr=frozenset({"otp"}),
        verify=_answer,
        signin_page="code_signin.verify",
        enroll_page="delivery.enroll_email",
    )
)
SMS_KIND = kinds.declare(
    kinds.Kind(
        name=SMS,
        label="Text message (SMS) code",
        method="sms_otp",
        amr=frozenset({"otp", "sms"}),
        verify=_answer,
        signin_page="code_signin.verify",
        enroll_page="delivery.enroll_sms",
    )
)
