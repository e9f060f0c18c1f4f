"""Passkeys (W3C WebAuthn Level 3, verified with py_webauthn): registration and assertions.

py_webauthn parses and verifies; it stores nothing. This module keeps the relying party's
state: the challenge is a ``Challenge`` row (single use, short-lived, bound to a session, settled
only through ``challenges.answer``), the credential record is ``Factor.data`` (public key, sign
count, backup flags, transports, AAGUID, user handle) and ``Factor.lookup`` holds a digest of the
credential id, unique across every user.

What WebAuthn L3 asks a relying party to check, and where it happens here:

- registration (7.1): type, challenge, origin, RP ID hash, UP, UV "if user verification was
  determined to be required", algorithm among ours, attestation "none" -- py_webauthn with our
  ``expected_*`` values; attestation "direct", verified against an allowed model's roots,
  when the user's policy requires attested passkeys -- ``idp.factors.attestation``; "verify
  that the credentialId is <= 1023 bytes" and "is not yet registered for any user" --
  ``register``.
- authentication (7.2): type, challenge, origin, RP ID hash, UP, UV when required, signature,
  and "if authData.signCount is nonzero or credentialRecord.signCount is nonzero", refuse a
  counter that does not increase -- py_webauthn; "if the user was identified before the
  authentication ceremony", the credential must be that user's, "if response.userHandle is
  present", it must be the owner's; "if credentialRecord.backupEligible is set, verify that
  currentBe is set", and if not, that it is not -- ``_check_assertion``.
- both: origin and RP ID hash are checked first so the person learns which one failed; a
  ``crossOrigin`` or ``topOrigin`` response is refused (these pages are never framed).

amr (RFC 8176): ``swk`` for a backup-eligible (synced) passkey, or for one that is not attested
by an allowed model when the owner's policy requires that, else ``hwk``; plus ``user`` when
the authenticator verified the user (UV), in an assertion and in a registration alike (adding a
passkey counts as the sign-in session's second factor). A passwordless sign-in requires UV, so
it is multi-factor on its own; as a second factor after the password UV is only preferred.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import (
    generate_challenge,
    parse_attestation_object,
    parse_authenticator_data,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.factors import attestation, challenges, kinds, lifecycle
from idp.factors.base import ChallengeUsed, FactorError, FactorLocked, Verification
from idp.models import Challenge, Factor, User
from idp.models.factor import FactorKind, FactorStatus

log = logging.getLogger(__name__)

NAME = FactorKind.PASSKEY.value
MAX_CREDENTIAL_ID = 1023  # bytes (WebAuthn L3 7.1)


NOT_VERIFIED = "This passkey response could not be verified. Try again."
INCOMPLETE = "The browser sent an incomplete passkey response. Try again."


class PasskeyRefused(FactorError):
    """A WebAuthn response that does not verify; the message says what to do."""

    def __init__(self, message: str = NOT_VERIFIED) -> None:
        super().__init__(message)


class WrongOrigin(PasskeyRefused):
    def __init__(self) -> None:
        super().__init__("This passkey response was made on another website. Use this site only.")


class WrongRelyingParty(PasskeyRefused):
    def __init__(self) -> None:
        super().__init__("This passkey belongs to another website (RP ID). Use one made here.")


class UnknownPasskey(PasskeyRefused):
    def __init__(self) -> None:
        super().__init__("This passkey is not registered here. Sign in with your password.")


@dataclass(frozen=True)
class Relying:
    """The relying party as configured: RP ID and the origins a ceremony may run on."""

    rp_id: str
    origins: list[str]


def relying_party() -> Relying:
    cfg = current_app.config
    return Relying(cfg["WEBAUTHN_RP_ID"], list(cfg["WEBAUTHN_ORIGINS"]))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def user_handle(user: User) -> bytes:
    """The WebAuthn user.id: the opaque, stable ``sub`` (at most 64 bytes, no personal data)."""
    return user.sub.encode()


def lookup_key(credential_id: bytes) -> str:
    """``Factor.lookup`` of a credential: a digest, since ids may be longer than the column."""
    return "passkey:" + b64url(hashlib.sha256(credential_id).digest())


def passkeys(user: User) -> list[Factor]:
    rows = db.session.execute(
        select(Factor).where(
            Factor.user_id == user.id,
            Factor.kind == NAME,
            Factor.status == FactorStatus.ACTIVE.value,
        )
    ).scalars()
    return list(rows)


def by_credential_id(credential_id: bytes) -> Factor | None:
    """Any factor (active, revoked...) holding this credential id."""
    return db.session.execute(
        select(Factor).where(Factor.lookup == lookup_key(credential_id))
    ).scalar()


def active_by_credential_id(credential_id: bytes) -> Factor | None:
    factor = by_credential_id(credential_id)
    return factor if factor is not None and factor.kind == NAME and factor.is_active else None


def _descriptor(factor: Factor) -> PublicKeyCredentialDescriptor:
    known = {t.value for t in AuthenticatorTransport}
    transports = [
        AuthenticatorTransport(t) for t in factor.data.get("transports", []) if t in known
    ]
    return PublicKeyCredentialDescriptor(
        id=unb64url(factor.data["credential_id"]), transports=transports or None
    )


def _timeout_ms() -> int:
    return current_app.config["CHALLENGE_TTL"] * 1000


# --- registration -------------------------------------------------------------------------


def registration_options(user: User, login_session_id: str) -> tuple[Challenge, dict]:
    """Options for ``navigator.credentials.create`` and the challenge row they belong to.

    Resident key and user verification preferred, attestation none (direct when the user's
    policy requires attested passkeys), the user's passkeys excluded so that one authenticator
    is not registered twice.
    """
    challenge = generate_challenge()
    row = challenges.issue(user, login_session_id, None, NAME, "enroll", secret=b64url(challenge))
    rp = relying_party()
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.rp_id,
        user_id=user_handle(user),
        user_name=user.email,
        user_display_name=user.name or user.email,
        challenge=challenge,
        timeout=_timeout_ms(),
        attestation=AttestationConveyancePreference.DIRECT
        if attestation.required_for(user)
        else AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(f) for f in passkeys(user)],
    )
    return row, json.loads(options_to_json(options))


def register(
    challenge: Challenge, user: User, credential: Any, name: str
) -> tuple[Factor, Verification]:
    """Verify an attestation for ``challenge`` and store an active passkey named ``name``.

    The factor is created pending and activated in the same transaction, so a pending passkey
    never exists without a verified credential behind it. The ``Verification`` is what the
    registration proved, with the amr an assertion with the same flags would give.
    """
    seen: dict[str, tuple[VerifiedRegistration, attestation.Attested | None]] = {}
    attest = attestation.required_for(user)

    def verify() -> Verification:
        seen["result"] = _verify_registration(challenge, credential, attest)
        return Verification(None, KIND.method, ())

    challenges.answer(challenge, None, user, verify)
    result, attested = seen["result"]
    factor = Factor(
        user_id=user.id,
        kind=NAME,
        name=name,
        lookup=lookup_key(result.credential_id),
        data={
            "credential_id": b64url(result.credential_id),
            "public_key": b64url(result.credential_public_key),
            "sign_count": result.sign_count,
            "backup_eligible": result.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            "backed_up": result.credential_backed_up,
            "uv_initialized": result.user_verified,
            "transports": _transports(credential),
            "aaguid": result.aaguid,
            "user_handle": b64url(user_handle(user)),
            **(attested.factor_data() if attested else {}),
        },
    )
    try:
        with db.session.begin_nested():
            db.session.add(factor)
    except IntegrityError as exc:  # the same credential, registered at the same moment
        raise PasskeyRefused("This passkey is already registered.") from exc
    audit.record("enrollment_started", subject=user.sub, factor_id=factor.id, kind=NAME)
    lifecycle.move(
        factor, FactorStatus.ACTIVE, actor=user.email, subject=user.sub, reason="verified"
    )
    return factor, _verification(factor, result.user_verified)


def _verify_registration(
    challenge: Challenge, credential: Any, attest: bool
) -> tuple[VerifiedRegistration, attestation.Attested | None]:
    """py_webauthn's checks, and with ``attest`` the attestation's (refused with its reason)."""
    rp = relying_party()
    _precheck(credential, rp, "webauthn.create")
    attested = None
    if attest:
        attested = attestation.vouch(unb64url(_response(credential)["attestationObject"]))
    try:
        result = verify_registration_response(
            credential=credential,
            expected_challenge=unb64url(challenge.secret or ""),
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origins,
            require_user_presence=True,
            require_user_verification=False,  # preferred, not required
            pem_root_certs_bytes_by_fmt={attested.fmt: list(attested.roots)} if attested else None,
        )
    except Exception as exc:  # untrusted input: any failure is a refusal
        log.info("passkey registration refused: %s: %s", type(exc).__name__, exc)
        raise PasskeyRefused() from exc
    if len(result.credential_id) > MAX_CREDENTIAL_ID:
        raise PasskeyRefused("This passkey's credential id is too long.")
    if by_credential_id(result.credential_id) is not None:
        raise PasskeyRefused("This passkey is already registered.")
    return result, attested


def _transports(credential: Any) -> list[str]:
    values = _response(credential).get("transports")
    known = {t.value for t in AuthenticatorTransport}
    return [t for t in values if t in known] if isinstance(values, list) else []


# --- authentication -----------------------------------------------------------------------


def authentication_options(
    challenge: bytes, allowed: list[Factor], user_verification: UserVerificationRequirement
) -> dict:
    """Options for ``navigator.credentials.get``; an empty ``allowed`` asks for a
    discoverable credential (passwordless and autofill)."""
    options = generate_authentication_options(
        rp_id=relying_party().rp_id,
        challenge=challenge,
        timeout=_timeout_ms(),
        allow_credentials=[_descriptor(f) for f in allowed],
        user_verification=user_verification,
    )
    return json.loads(options_to_json(options))


def second_factor_options(
    user: User, login_session_id: str, factor: Factor
) -> tuple[Challenge, dict]:
    """A challenge for this passkey after the password; user verification preferred."""
    challenge = generate_challenge()
    row = challenges.issue(user, login_session_id, factor, NAME, "signin", secret=b64url(challenge))
    options = authentication_options(challenge, [factor], UserVerificationRequirement.PREFERRED)
    return row, options


def passwordless_options() -> tuple[str, dict]:
    """A fresh challenge (base64url) and discoverable-credential options; UV required."""
    challenge = generate_challenge()
    options = authentication_options(challenge, [], UserVerificationRequirement.REQUIRED)
    return b64url(challenge), options


def claimed_credential_id(credential: Any) -> bytes:
    """The raw credential id a response names (not verified yet)."""
    raw = credential.get("rawId") if isinstance(credential, dict) else None
    try:
        value = unb64url(raw) if isinstance(raw, str) else b""
    except ValueError:
        value = b""
    if not value:
        raise PasskeyRefused(INCOMPLETE)
    return value


def claimed_user_handle(credential: Any) -> bytes | None:
    """The user handle a response carries (discoverable credentials), not verified yet."""
    value = _response(credential).get("userHandle")
    if not value:
        return None
    try:
        return unb64url(value) if isinstance(value, str) else b""
    except ValueError:
        return b""


def claimed_challenge(credential: Any) -> str | None:
    """The challenge (base64url) the client data names, to find the ceremony it answers."""
    try:
        value = json.loads(unb64url(_response(credential).get("clientDataJSON") or "")).get(
            "challenge"
        )
    except (ValueError, TypeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def passwordless_challenge(
    binding: str, challenge: str, issued_at: int, user: User, factor: Factor
) -> Challenge:
    """The ``Challenge`` row of a passwordless ceremony, issued when its answer arrives.

    Before the answer nobody knows the user, and a row needs one. The row id is derived from
    the challenge, so a replayed answer meets the settled row (``ChallengeUsed``) instead of a
    fresh one; ``binding`` is the browser's pre-sign-in id, the TTL counts from the moment
    the options were given out.
    """
    row_id = hashlib.sha256(challenge.encode()).hexdigest()
    row = db.session.get(Challenge, row_id)
    if row is not None:
        if row.user_id != user.id or row.login_session_id != binding:
            raise ChallengeUsed()
        return row
    row = challenges.issue(user, binding, factor, NAME, "passwordless", secret=challenge)
    row.id = row_id
    row.issued_at = issued_at
    row.expires_at = issued_at + current_app.config["CHALLENGE_TTL"]
    try:
        with db.session.begin_nested():
            db.session.flush([row])
    except IntegrityError as exc:  # the same answer, posted twice at once
        raise ChallengeUsed() from exc
    return row


def authenticate(
    challenge: Challenge,
    factor: Factor,
    user: User,
    credential: Any,
    *,
    require_user_verification: bool,
    throttled: bool = True,
) -> Verification:
    """Settle ``challenge`` with an assertion made by ``factor``'s credential.

    The factor row is locked while it is checked and its sign count moves. ``throttled=False``
    (passwordless) keeps failures from counting against the factor: an anonymous visitor could
    otherwise lock someone's passkey, and a signature cannot be guessed anyway.
    """
    factor = challenges.locked(factor)
    if not throttled and factor.locked_at is not None:
        raise FactorLocked()
    return challenges.answer(
        challenge,
        factor if throttled else None,
        user,
        lambda: _assert(challenge, factor, user, credential, require_user_verification),
    )


def _assert(
    challenge: Challenge, factor: Factor, user: User, credential: Any, require_uv: bool
) -> Verification:
    """Verify an assertion by ``factor`` (its row locked) and store what it changed."""
    result = _verify_assertion(challenge, factor, user, credential, require_uv)
    _record_use(factor, result)
    return _verification(factor, result.user_verified)


def _verify_assertion(
    challenge: Challenge, factor: Factor, user: User, credential: Any, require_uv: bool
) -> VerifiedAuthentication:
    stored_id = unb64url(factor.data["credential_id"])
    if factor.user_id != user.id or claimed_credential_id(credential) != stored_id:
        raise PasskeyRefused("This is not the passkey that was asked for.")
    handle = claimed_user_handle(credential)
    if handle is not None and handle != unb64url(factor.data["user_handle"]):
        raise PasskeyRefused("This passkey belongs to another account.")
    rp = relying_party()
    _precheck(credential, rp, "webauthn.get")
    try:
        result = verify_authentication_response(
            credential=credential,
            expected_challenge=unb64url(challenge.secret or ""),
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origins,
            credential_public_key=unb64url(factor.data["public_key"]),
            credential_current_sign_count=int(factor.data.get("sign_count", 0)),
            require_user_verification=require_uv,
        )
    except Exception as exc:  # untrusted input: any failure is a refusal
        log.info(
            "passkey assertion refused (factor %s): %s: %s", factor.id, type(exc).__name__, exc
        )
        raise PasskeyRefused(_reason(str(exc))) from exc
    eligible = result.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    if eligible != bool(factor.data.get("backup_eligible")):
        raise PasskeyRefused("This passkey's backup eligibility changed; it cannot be trusted.")
    return result


def _reason(detail: str) -> str:
    """The person's message for a py_webauthn refusal (the detail is only logged)."""
    if "sign count" in detail:
        return (
            "This passkey's signature counter did not advance: it may have been copied. "
            "Use another method."
        )
    if "User verification is required" in detail:
        return "Your device did not confirm it is you (PIN, fingerprint or face). Try again."
    if "challenge" in detail:
        return "This passkey response answers another sign-in attempt. Start again."
    return NOT_VERIFIED


def key_amr(factor: Factor) -> str:
    """``swk`` for a backup-eligible (synced) passkey, or one its owner's policy does not
    accept as hardware-bound (not attested by an allowed model), else ``hwk`` (RFC 8176)."""
    if factor.data.get("backup_eligible") or not attestation.hardware_bound(factor):
        return "swk"
    return "hwk"


def _verification(factor: Factor, user_verified: bool) -> Verification:
    """The amr of a ceremony with ``factor``, registration or assertion alike: its key's, and
    ``user`` when the authenticator verified the user (the UV flag)."""
    amr = {key_amr(factor), "user"} if user_verified else {key_amr(factor)}
    return KIND.verification(factor.id, frozenset(amr))


def _record_use(factor: Factor, result: VerifiedAuthentication) -> None:
    """Store the new sign count, the backup state, and whether UV ever happened (L3 7.2)."""
    data = dict(factor.data)
    data["sign_count"] = result.new_sign_count
    data["backed_up"] = result.credential_backed_up
    data["uv_initialized"] = bool(data.get("uv_initialized")) or result.user_verified
    factor.data = data
    factor.last_used_at = now()


# --- checks py_webauthn leaves to us, or reports without saying which ----------------------


def _response(credential: Any) -> dict:
    response = credential.get("response") if isinstance(credential, dict) else None
    return response if isinstance(response, dict) else {}


def _precheck(credential: Any, rp: Relying, ceremony: str) -> None:
    """Type, origin, cross-origin use and RP ID hash, so the person learns which one failed.

    py_webauthn checks type, origin and RP ID again; ``crossOrigin``/``topOrigin`` it does not.
    """
    response = _response(credential)
    try:
        client_data = json.loads(unb64url(response.get("clientDataJSON") or ""))
        if ceremony == "webauthn.get":
            auth_data = parse_authenticator_data(unb64url(response.get("authenticatorData") or ""))
        else:
            attestation = unb64url(response.get("attestationObject") or "")
            auth_data = parse_attestation_object(attestation).auth_data
    except Exception as exc:  # untrusted input: any parse error is a refusal
        log.info("malformed passkey response: %s", type(exc).__name__)
        raise PasskeyRefused(INCOMPLETE) from exc
    if not isinstance(client_data, dict) or client_data.get("type") != ceremony:
        raise PasskeyRefused(INCOMPLETE)
    if client_data.get("origin") not in rp.origins:
        raise WrongOrigin()
    if client_data.get("crossOrigin") is True or "topOrigin" in client_data:
        raise WrongOrigin()
    if auth_data.rp_id_hash != hashlib.sha256(rp.rp_id.encode()).digest():
        raise WrongRelyingParty()


KIND = kinds.declare(
    kinds.Kind(
        name=NAME,
        label="Passkey",
        method="passkey",
        amr=frozenset({"hwk"}),
        # as the second factor after a password, user verification is preferred, not required
        verify=lambda challenge, factor, user, credential: _assert(
            challenge, factor, user, credential, require_uv=False
        ),
        signin_page="passkey_signin.second_factor",
        enroll_page="passkeys.register",
        factor_amr=lambda factor: frozenset({key_amr(factor)}),
    )
)
