"""Attestation made in the test: certificate authorities, attestation certificates for software
authenticators, and FIDO Metadata Service BLOBs signed by a test root. Nothing is downloaded.

``CertificateAuthority`` makes a root (or an intermediate under another CA) with
``cryptography``; ``packed`` gives a ``PackedAttestation`` whose leaf follows WebAuthn L3 8.2.1
(OU "Authenticator Attestation", not a CA, the ``id-fido-gen-ce-aaguid`` extension);
``mds_blob`` signs a BLOB (a JWS with an ``x5c`` chain) as the FIDO Metadata Service does.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.webauthn import PackedAttestation, SoftAuthenticator

AAGUID_EXTENSION = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    parts = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Keys Inc."),
    ]
    if unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    return builder.not_valid_before(start).not_valid_after(start + datetime.timedelta(days=365))


class CertificateAuthority:
    """A P-256 CA: a self-signed root, or an intermediate signed by ``parent``."""

    def __init__(self, name: str, parent: CertificateAuthority | None = None) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.parent = parent
        issuer = parent.certificate.subject if parent else _name(name)
        builder = (
            _validity(x509.CertificateBuilder())
            .subject_name(_name(name))
            .issuer_name(issuer)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )  # fmt: skip
        )
        signer = parent.key if parent else self.key
        self.certificate = builder.sign(signer, hashes.SHA256())

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def chain(self) -> tuple[bytes, ...]:
        """This CA's certificate and its parents' below the root (the root is not sent)."""
        if self.parent is None:
            return ()
        return (self.der, *self.parent.chain())

    def leaf(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        unit: str = "Authenticator Attestation",
        aaguid: bytes | None = None,
        ca: bool = False,
    ) -> bytes:
        """A certificate for ``key`` signed by this CA (DER); with ``aaguid``, it names that
        model in the id-fido-gen-ce-aaguid extension (an OCTET STRING of 16 bytes)."""
        builder = (
            _validity(x509.CertificateBuilder())
            .subject_name(_name("Test Key Attestation", unit))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if aaguid is not None:
            extension = x509.UnrecognizedExtension(AAGUID_EXTENSION, b"\x04\x10" + aaguid)
            builder = builder.add_extension(extension, critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        return certificate.public_bytes(serialization.Encoding.DER)

    def packed(self, aaguid: bytes, *, certified_aaguid: bytes | None = None) -> PackedAttestation:
        """An attestation key and chain for a model; the certificate names ``certified_aaguid``
        (default: the same model)."""
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = self.leaf(key, aaguid=certified_aaguid or aaguid)
        return PackedAttestation(key, (leaf, *self.chain()))


def security_key(ca: CertificateAuthority, aaguid: uuid.UUID, **kw) -> SoftAuthenticator:
    """A device-bound software passkey of model ``aaguid`` with packed attestation by ``ca``."""
    return SoftAuthenticator(aaguid=aaguid.bytes, attestation=ca.packed(aaguid.bytes, **kw))


def mds_entry(aaguid: uuid.UUID, description: str, root: CertificateAuthority, *statuses: str):
    """One FIDO2 entry of a Metadata BLOB payload (MDS3 3.1.1)."""
    return {
        "aaguid": str(aaguid),
        "metadataStatement": {
            "description": description,
            "aaguid": str(aaguid),
            "attestationRootCertificates": [base64.b64encode(root.der).decode()],
        },
        "statusReports": [{"status": s} for s in statuses or ("FIDO_CERTIFIED_L1",)],
        "timeOfLastStatusChange": "2026-01-01",
    }


def mds_blob(signer: CertificateAuthority, entries: list[dict], number: int = 7) -> str:
    """A Metadata BLOB: a JWS (ES256) whose ``x5c`` is a signing certificate issued by
    ``signer`` followed by ``signer``'s own chain below the root."""
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = signer.leaf(key, unit="Metadata")
    x5c = [base64.b64encode(c).decode() for c in (leaf, *signer.chain())]
    payload = {"legalHeader": "test", "no": number, "nextUpdate": "2099-01-01", "entries": entries}
    return jwt.encode(payload, key, algorithm="ES256", headers={"x5c": x5c})


def tampered(blob: str) -> str:
    """The same BLOB with one more entry slipped into its payload (the signature is kept)."""
    header, payload, signature = blob.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["entries"].append({**data["entries"][0], "aaguid": str(uuid.uuid4())})
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"
