"""Hand-made WebAuthn responses: assertions signed with a virtual authenticator's own key, and a
small software authenticator for tests without a browser.

``WebAuthn.getCredentials`` hands out the private key of each credential of a DevTools virtual
authenticator. With it a test can sign an assertion that is correct in every respect but one (the
origin, the RP ID hash, the UV flag, the sign counter...), so a refusal proves that the server
checked that one thing, not that a signature broke. ``SoftAuthenticator`` also makes the
registration (Ed25519; "none" attestation, or "packed" with a certificate chain made by a test
CA, ``tests.support.attestation``) for tests of ``idp.factors.passkey`` and its endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from webauthn.helpers import encode_cbor

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class VirtualCredential:
    """One credential exported from a virtual authenticator (``WebAuthn.getCredentials``)."""

    credential_id: bytes
    user_handle: bytes
    private_key: bytes  # PKCS#8 DER
    rp_id: str
    sign_count: int
    backup_eligible: bool

    @classmethod
    def from_cdp(cls, item: dict) -> VirtualCredential:
        return cls(
            credential_id=base64.b64decode(item["credentialId"]),
            user_handle=base64.b64decode(item.get("userHandle") or ""),
            private_key=base64.b64decode(item["privateKey"]),
            rp_id=item["rpId"],
            sign_count=int(item.get("signCount", 0)),
            backup_eligible=bool(item.get("backupEligibility", False)),
        )

    def assertion(
        self,
        challenge: str,
        origin: str,
        *,
        rp_id: str | None = None,
        sign_count: int,
        flags: int = UP | UV,
        cross_origin: bool = False,
    ) -> dict:
        """A ``navigator.credentials.get`` response as ``static/passkeys.js`` posts it."""
        if self.backup_eligible:
            flags |= BE
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        auth_data = rp_hash + bytes([flags]) + struct.pack(">I", sign_count)
        client_data = json.dumps(
            {"type": "webauthn.get", "challenge": challenge, "origin": origin,
             "crossOrigin": cross_origin},
            separators=(",", ":"),
        ).encode()  # fmt: skip
        signature = self._sign(auth_data + hashlib.sha256(client_data).digest())
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle),
            },
        }

    def _sign(self, data: bytes) -> bytes:
        key = serialization.load_der_private_key(self.private_key, password=None)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hashes.SHA256()))
        raise TypeError(f"unsupported virtual authenticator key {type(key).__name__}")


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    body = {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class PackedAttestation:
    """What a "packed" attestation statement is made with (WebAuthn L3 8.2): the attestation
    key (P-256, ES256) and its certificate chain, leaf first, as DER."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[bytes, ...]

    def statement(self, auth_data: bytes, client_data: bytes) -> dict:
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {"alg": -7, "sig": signature, "x5c": list(self.chain)}


class SoftAuthenticator:
    """One Ed25519 passkey made in software: registration first, then ``credential`` signs.

    ``aaguid`` names the model in the authenticator data; with ``attestation`` the registration
    is attested ("packed" with that key and chain), else its format is "none"."""

    def __init__(
        self,
        rp_id: str = "localhost",
        *,
        backup_eligible: bool = False,
        aaguid: bytes = bytes(16),
        attestation: PackedAttestation | None = None,
    ) -> None:
        self.rp_id = rp_id
        self.backup_eligible = backup_eligible
        self.aaguid = aaguid
        self.attestation = attestation
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.credential_id = os.urandom(16)

    def registration(
        self, challenge: str, origin: str, *, rp_id: str | None = None, flags: int = UP | UV
    ) -> dict:
        """A ``navigator.credentials.create`` response, attested if the authenticator is."""
        if self.backup_eligible:
            flags |= BE
        public = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        cose = encode_cbor({1: 1, 3: -8, -1: 6, -2: public})  # OKP, EdDSA, Ed25519
        auth_data = (
            hashlib.sha256((rp_id or self.rp_id).encode()).digest()
            + bytes([flags | AT])
            + struct.pack(">I", 0)
            + self.aaguid
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + cose
        )
        client_data = _client_data("webauthn.create", challenge, origin)
        if self.attestation is None:
            fmt, statement = "none", {}
        else:
            fmt, statement = "packed", self.attestation.statement(auth_data, client_data)
        attestation = encode_cbor({"fmt": fmt, "attStmt": statement, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "made-up"],
            },
        }

    def credential(self, user_handle: bytes) -> VirtualCredential:
        """The same key as a ``VirtualCredential``, to sign assertions."""
        der = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return VirtualCredential(
            self.credential_id, user_handle, der, self.rp_id, 0, self.backup_eligible
        )
