"""Attested passkeys: the authenticator models an organisation allows, and proof that a new
passkey lives on one (W3C WebAuthn Level 3, 6.5 "Attestation" and 7.1 steps 21 to 24).

A policy with ``require_attested_passkeys`` (any of the user's roles, or the default) asks new
passkeys for ``direct`` attestation and registers only those that prove, with a certificate
chain ending in one of the allowed model's root certificates, that they were made by a model on
the allow-list (``AuthenticatorModel``, by AAGUID). Such a passkey is stored with
``attested: true``, its attestation format, the model's description and the trust anchor.

WebAuthn L3 7.1 leaves it to the relying party what to do with an untrustworthy attestation
("SHOULD fail the registration ceremony"). Here, for a user whose policy requires attestation:

- a passkey without attestation (``none``, or self attestation), of an unlisted or disallowed
  model, whose chain does not end in that model's roots, or whose certificate names another
  model (the ``id-fido-gen-ce-aaguid`` extension, 8.2.1) is refused at registration, with a
  message saying which;
- a passkey registered before the policy asked for attestation, or whose model was removed
  from the list since, still signs in but is software-grade: ``swk`` rather than ``hwk``
  (RFC 8176), so it reaches ``phr`` but never ``phrh`` (``hardware_bound``).

Users whose policy does not ask for attestation are untouched: attestation ``none``, and the
backup-eligibility flag alone decides ``hwk``. py_webauthn checks the attestation signature and
the chain; it adds its own roots for some formats and passes any chain when given no roots, so
the chain is checked here too, against the model's roots only.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from webauthn.helpers import aaguid_to_string, parse_attestation_object, validate_certificate_chain
from webauthn.helpers.exceptions import InvalidCertificateChain
from webauthn.helpers.structs import AttestationFormat

from idp import audit
from idp.extensions import db
from idp.factors.base import FactorError
from idp.models import AuthenticatorModel, DefaultPolicy, Factor, User

#: Formats whose statement carries a certificate chain (``x5c``) we can check against a model's
#: roots. ``android-safetynet`` (deprecated) vouches through Google's service instead.
CHAINED_FORMATS = frozenset(
    f.value
    for f in (
        AttestationFormat.PACKED,
        AttestationFormat.TPM,
        AttestationFormat.FIDO_U2F,
        AttestationFormat.ANDROID_KEY,
        AttestationFormat.APPLE,
    )
)
#: id-fido-gen-ce-aaguid (WebAuthn L3 8.2.1): the model an attestation certificate is for.
AAGUID_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")
APPROVED = "Use a security key your organisation approved, or ask an administrator."


class AttestationRefused(FactorError):
    """A new passkey that does not prove it lives on an allowed authenticator model."""


class NoAttestation(AttestationRefused):
    def __init__(self) -> None:
        super().__init__(
            "Your organisation accepts only passkeys on approved security keys, and this "
            "passkey did not say which device it is on. Allow the browser to share the key's "
            f"make and model. {APPROVED}"
        )


class UnlistedModel(AttestationRefused):
    def __init__(self, aaguid: str) -> None:
        super().__init__(
            f"This device (model {aaguid}) is not on your organisation's list of approved "
            f"security keys. {APPROVED}"
        )


class UntrustedChain(AttestationRefused):
    def __init__(self) -> None:
        super().__init__(
            "This security key's certificate does not come from its maker's trusted authority, "
            f"so it cannot be approved. {APPROVED}"
        )


class OtherModel(AttestationRefused):
    def __init__(self) -> None:
        super().__init__(
            f"This security key's certificate is for another model than it claims. {APPROVED}"
        )


@dataclass(frozen=True)
class Attested:
    """What an accepted attestation proved: the model, the format, and the trust anchor."""

    aaguid: str
    fmt: str
    model: str
    anchor: str  # the subject of the root certificate the chain ended in
    roots: tuple[bytes, ...]  # the model's roots (PEM), for py_webauthn's own check

    def factor_data(self) -> dict:
        """What the passkey's ``Factor.data`` keeps of it (the AAGUID is kept anyway)."""
        return {
            "attested": True,
            "attestation_fmt": self.fmt,
            "attested_model": self.model,
            "attestation_anchor": self.anchor,
        }


# --- who must attest, and what counts as hardware-bound -------------------------------------


def required_for(user: User) -> bool:
    """Whether the user's stored policy requires attested passkeys: the default's or any
    role's switch, as ``rules.strictest`` combines them (a per-user override changes only the
    MFA mode). Read here because a factor's amr is derived in this layer."""
    default = db.session.get(DefaultPolicy, 1)
    rows = [default, *user.roles] if default is not None else list(user.roles)
    return any(row.require_attested_passkeys for row in rows)


def compliant(factor: Factor) -> bool:
    """The passkey was attested at registration by a model that is still allowed."""
    return bool(factor.data.get("attested")) and allowed(factor.data.get("aaguid") or "")


def hardware_bound(factor: Factor) -> bool:
    """Whether a device-bound passkey may count as a hardware key (``hwk``) for its owner:
    always, unless their policy requires attestation and this one is not ``compliant``."""
    user = db.session.get(User, factor.user_id)
    return user is None or not required_for(user) or compliant(factor)


def allowed(aaguid: str) -> bool:
    row = model(aaguid)
    return row is not None and row.allowed


def model(aaguid: str) -> AuthenticatorModel | None:
    return db.session.execute(
        select(AuthenticatorModel).where(AuthenticatorModel.aaguid == aaguid)
    ).scalar()


# --- the registration check ------------------------------------------------------------------


def vouch(attestation_object: bytes) -> Attested:
    """Check what the attestation object claims before py_webauthn verifies its signature.

    Raises an ``AttestationRefused`` naming what is wrong. The attestation signature itself is
    py_webauthn's to check, with ``Attested.roots``.
    """
    parsed = parse_attestation_object(attestation_object)
    if parsed.fmt == AttestationFormat.NONE.value:
        raise NoAttestation()
    credential = parsed.auth_data.attested_credential_data
    chain = parsed.att_stmt.x5c or []
    if parsed.fmt not in CHAINED_FORMATS or not chain or credential is None:
        raise NoAttestation()  # self attestation, or a format without a chain to check
    aaguid = aaguid_to_string(credential.aaguid)
    row = model(aaguid)
    if row is None or not row.allowed or not row.root_certificates:
        raise UnlistedModel(aaguid)
    roots = tuple(pem.encode() for pem in row.root_certificates)
    anchor = _anchor(chain, roots)
    _check_model_extension(chain[0], credential.aaguid)
    return Attested(aaguid, str(parsed.fmt), row.description, anchor, roots)


def _anchor(chain: list[bytes], roots: tuple[bytes, ...]) -> str:
    """The subject of the root the chain ends in; ``UntrustedChain`` when it ends in none."""
    for root in roots:
        try:
            validate_certificate_chain(x5c=chain, pem_root_certs_bytes=[root])
        except InvalidCertificateChain:
            continue
        return x509.load_pem_x509_certificate(root).subject.rfc4514_string()
    raise UntrustedChain()


def _check_model_extension(leaf_der: bytes, aaguid: bytes) -> None:
    """WebAuthn L3 8.2.1: if the attestation certificate names a model (AAGUID), it must be the
    one the authenticator data claims, and the extension must not be critical."""
    try:
        leaf = x509.load_der_x509_certificate(leaf_der)
        extension = leaf.extensions.get_extension_for_oid(AAGUID_EXTENSION)
    except x509.ExtensionNotFound:
        return
    except ValueError as exc:
        raise UntrustedChain() from exc
    value = extension.value
    named = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    if extension.critical or named != b"\x04\x10" + aaguid:  # OCTET STRING of 16 bytes
        raise OtherModel()


# --- the allow-list --------------------------------------------------------------------------


def normal_aaguid(text: str) -> str:
    """An AAGUID as stored: lower-case and hyphenated; ``ValueError`` if it is none."""
    try:
        return str(uuid.UUID(text.strip()))
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"not an AAGUID: {text!r}") from exc


def pem_roots(pem: bytes) -> list[str]:
    """Every certificate of a PEM text, each as its own PEM; ``ValueError`` if none parses."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ValueError("the root certificate file holds no PEM certificate") from exc
    return [c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates]


def listed() -> list[AuthenticatorModel]:
    """Every known model, allowed ones first, then by description."""
    rows = db.session.execute(select(AuthenticatorModel)).scalars()
    return sorted(rows, key=lambda r: (not r.allowed, r.description.lower(), r.aaguid))


def describe(row: AuthenticatorModel | None) -> dict | None:
    """A model as JSON-ready data (CLI output and audit before/after): roots by fingerprint."""
    if row is None:
        return None
    return {
        "aaguid": row.aaguid,
        "description": row.description,
        "roots": [fingerprint(pem) for pem in row.root_certificates],
        "source": row.source,
        "allowed": row.allowed,
    }


def fingerprint(pem: str) -> str:
    """SHA-256 of a certificate's DER, hex: how admins tell roots apart."""
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def subject(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()


def allow(
    aaguid: str, *, description: str | None, roots: list[str] | None, actor: str
) -> AuthenticatorModel:
    """Allow a model, adding it (description and roots needed) or changing a known one (what
    is given replaces what it had; given roots make it a ``manual`` entry). Audited."""
    aaguid = normal_aaguid(aaguid)
    row = model(aaguid)
    before = describe(row)
    if row is None:
        if not description or not description.strip() or not roots:
            raise ValueError("a new model needs a description and its root certificate(s)")
        row = AuthenticatorModel(aaguid=aaguid)
        db.session.add(row)
    if description is not None and description.strip():
        row.description = description.strip()[:500]
    if roots:
        row.root_certificates, row.source = list(roots), "manual"
    row.allowed = True
    audit.record("authenticator_allowed", actor=actor, before=before, after=describe(row))
    return row


def remove(aaguid: str, *, actor: str) -> bool:
    """Take a model off the allow-list (its row stays, marked not allowed, so a later MDS
    import does not allow it again). False if it was not allowed. Audited."""
    row = model(normal_aaguid(aaguid))
    if row is None or not row.allowed:
        return False
    before = describe(row)
    row.allowed = False
    audit.record("authenticator_removed", actor=actor, before=before, after=describe(row))
    return True
