"""TOTP (RFC 6238 with pyotp): 160-bit secret, 6 digits, 30 s, one step of tolerance each way.

A time step that was accepted once is refused forever after, across workers and processes: the
last accepted step is stored on the factor and advanced with one conditional UPDATE
(``... WHERE totp_last_step IS NULL OR totp_last_step < :step``).
"""

from __future__ import annotations

import hmac
import io

import pyotp
import segno
from flask import current_app
from sqlalchemy import or_, update

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.factors import kinds
from idp.factors.base import CodeReused, Verification, WrongCode
from idp.keys.encryption import factor_aad, keyring
from idp.models import Factor, User
from idp.models.factor import FactorKind

DIGITS = 6
PERIOD = 30
TOLERANCE = 1  # steps either way (RFC 6238 section 5.2)
SECRET_BYTES = 20  # 160 bits (RFC 4226 section 4)


def _aad(factor: Factor) -> str:
    return factor_aad(factor.id, factor.kind)


def enroll(user: User, name: str) -> tuple[Factor, str]:
    """A pending TOTP factor and its base32 secret (shown once, for the authenticator app)."""
    secret = pyotp.random_base32(length=32)  # 32 base32 characters = 160 bits
    factor = Factor(user_id=user.id, kind=FactorKind.TOTP.value, name=name, data={})
    db.session.add(factor)
    db.session.flush()
    factor.secret = keyring().encrypt(secret.encode(), _aad(factor))
    audit.record("enrollment_started", subject=user.sub, factor_id=factor.id, kind="totp")
    return factor, secret


def secret_of(factor: Factor) -> str:
    """Decrypt the seed; only to verify a code or to show it once during enrollment."""
    return keyring().decrypt(factor.secret, _aad(factor)).decode()


def provisioning_uri(secret: str, account: str) -> str:
    issuer = current_app.config["ISSUER"].split("://", 1)[1]
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    return totp.provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code, drawn on the server (no external service)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()


def matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step within tolerance whose code equals ``code``, compared in constant time."""
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    now_step = int(at // PERIOD)
    found = None
    for step in range(now_step - TOLERANCE, now_step + TOLERANCE + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def verify(factor: Factor, code: str, at: float) -> Verification:
    """Check a code and consume its time step atomically; raise ``WrongCode``/``CodeReused``."""
    step = matching_step(secret_of(factor), code.strip().replace(" ", ""), at)
    if step is None:
        raise WrongCode()
    consumed = db.session.execute(
        update(Factor)
        .where(
            Factor.id == factor.id,
            or_(Factor.totp_last_step.is_(None), Factor.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:
        raise CodeReused()
    factor.totp_last_step = step
    return KIND.verification(factor.id)


KIND = kinds.declare(
    kinds.Kind(
        name=FactorKind.TOTP.value,
        label="Authenticator app",
        method="totp",
        amr=frozenset({"otp"}),
        verify=lambda challenge, factor, user, code: verify(factor, str(code), now()),
        signin_page="mfa.verify",
        enroll_page="security.enroll_totp",
    )
)
