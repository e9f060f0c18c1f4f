"""FIDO Metadata Service (MDS3) BLOBs, read offline: the authenticator models they describe.

FIDO Metadata Service v3.0, 3.1.7 "Metadata BLOB object processing rules", as far as they apply
to a file an admin downloaded: the BLOB is a JWS (RFC 7515, compact) whose header carries an
``x5c`` chain; the chain must verify to the FIDO root the admin gives (step 4; no CRLs: this is
offline) and the JWS signature must verify with the chain's first certificate (step 6). The
payload's ``entries`` give each FIDO2 model's ``aaguid``, ``metadataStatement.description``
and ``metadataStatement.attestationRootCertificates`` (base64 DER), and its ``statusReports``.

Models reported compromised or revoked are never imported (MDS3 3.1.4, ``AuthenticatorStatus``);
U2F and UAF entries (no AAGUID) are skipped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from webauthn.helpers import validate_certificate_chain
from webauthn.helpers.exceptions import InvalidCertificateChain

from idp import audit
from idp.extensions import db
from idp.factors import attestation
from idp.models import AuthenticatorModel

#: Statuses after which a model's attestation proves nothing (MDS3 3.1.4).
UNTRUSTED = frozenset(
    {
        "REVOKED",
        "ATTESTATION_KEY_COMPROMISE",
        "USER_VERIFICATION_BYPASS",
        "USER_KEY_REMOTE_COMPROMISE",
        "USER_KEY_PHYSICAL_COMPROMISE",
    }
)
ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]


class BlobRefused(ValueError):
    """A BLOB that is malformed or whose chain or signature does not verify."""


@dataclass(frozen=True)
class Entry:
    """One FIDO2 model of a BLOB."""

    aaguid: str
    description: str
    roots: tuple[str, ...]  # PEM
    statuses: frozenset[str]


@dataclass(frozen=True)
class Blob:
    """A verified BLOB: its serial number and its FIDO2 entries."""

    number: int
    entries: tuple[Entry, ...]


def read(blob: str, fido_root_pem: bytes) -> Blob:
    """The verified contents of a BLOB; ``BlobRefused`` when it cannot be trusted."""
    roots = attestation.pem_roots(fido_root_pem)
    try:
        header = jwt.get_unverified_header(blob.strip())
        chain = [base64.b64decode(c) for c in header["x5c"]]
    except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
        raise BlobRefused("the BLOB is not a JWS with an x5c certificate chain") from exc
    try:
        validate_certificate_chain(x5c=chain, pem_root_certs_bytes=[r.encode() for r in roots])
    except InvalidCertificateChain as exc:
        raise BlobRefused("the BLOB's certificate chain does not verify to the given root") from exc
    signer = x509.load_der_x509_certificate(chain[0]).public_key()
    try:
        payload = jwt.PyJWS().decode(blob.strip(), key=signer, algorithms=ALGORITHMS)
    except jwt.PyJWTError as exc:
        raise BlobRefused("the BLOB's signature does not verify") from exc
    try:
        data = json.loads(payload)
        number, entries = int(data.get("no", 0)), list(data.get("entries") or [])
    except (AttributeError, TypeError, ValueError) as exc:  # signed, but not MDS3's shape
        raise BlobRefused("the BLOB's payload is not a metadata BLOB") from exc
    return Blob(number, tuple(_entries(entries)))


def _entries(items: Iterable) -> Iterable[Entry]:
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("metadataStatement"), dict):
            continue
        statement = item["metadataStatement"]
        if not item.get("aaguid"):
            continue  # U2F (key identifiers) and UAF (AAID) entries
        der = statement.get("attestationRootCertificates") or []
        yield Entry(
            aaguid=attestation.normal_aaguid(item["aaguid"]),
            description=str(statement.get("description") or item["aaguid"])[:500],
            roots=tuple(_pem(d) for d in der),
            statuses=frozenset(
                r.get("status", "") for r in item.get("statusReports") or [] if isinstance(r, dict)
            ),
        )


def _pem(der_base64: str) -> str:
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(der_base64))
    except ValueError as exc:
        raise BlobRefused("an entry's attestation root certificate does not parse") from exc
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def importable(entry: Entry, statuses: frozenset[str]) -> str | None:
    """Why ``entry`` is not imported (``None``: it is): no roots, untrusted, or without one of
    the wanted ``statuses`` (empty: any)."""
    if not entry.roots:
        return "no_roots"
    if entry.statuses & UNTRUSTED:
        return "untrusted_status"
    if statuses and not entry.statuses & statuses:
        return "status_filtered"
    return None


def import_blob(blob: Blob, *, statuses: frozenset[str], allow: bool, actor: str) -> dict:
    """Add the BLOB's models (allowed if ``allow``) and refresh the roots and description of
    models an earlier import added; models an admin entered by hand, and whether a known
    model is allowed, stay as they are. Returns counts; audited."""
    counts = {"added": 0, "updated": 0, "kept_manual": 0, "skipped": {}}
    for entry in blob.entries:
        reason = importable(entry, statuses)
        if reason is not None:
            counts["skipped"][reason] = counts["skipped"].get(reason, 0) + 1
            continue
        counts[_store(entry, allow)] += 1
    audit.record("authenticator_metadata_imported", actor=actor, blob_no=blob.number, **counts)
    return counts


def _store(entry: Entry, allow: bool) -> str:
    row = attestation.model(entry.aaguid)
    if row is None:
        db.session.add(
            AuthenticatorModel(
                aaguid=entry.aaguid,
                description=entry.description,
                root_certificates=list(entry.roots),
                source="mds",
                allowed=allow,
            )
        )
        return "added"
    if row.source != "mds":
        return "kept_manual"
    row.description, row.root_certificates = entry.description, list(entry.roots)
    return "updated"
