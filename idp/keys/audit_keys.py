"""The audit chain's keys: HMAC keys derived from the encryption key ring, and the checkpoint
signature made with the token signing key.

The MAC key of ring key ``kid`` is HKDF-SHA256 of that key with its own label, so it is never
the AES key itself and a row names ``kid`` only: rotating the ring keeps old rows verifiable as
long as their key stays listed. Checkpoints are JWS (``typ: audit-checkpoint+jwt``) signed like
ID tokens, so anyone holding the published key can check an exported one.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idp.keys.encryption import keyring
from idp.keys.signing import KeyStore

MAC_LABEL = b"idp audit chain hmac v1"
CHECKPOINT_TYP = "audit-checkpoint+jwt"


class CheckpointSignatureError(ValueError):
    """A checkpoint's signature does not verify, or its key is unknown; the message says which."""


def _derive(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=MAC_LABEL).derive(key)


@dataclass
class AuditKeys:
    """What ``idp.audit`` needs of the keys, handed to it by the app factory."""

    store: KeyStore
    _derived: dict[bytes, bytes]

    @classmethod
    def of(cls, store: KeyStore) -> AuditKeys:
        return cls(store, {})

    def mac_key(self, kid: str | None = None) -> tuple[str, bytes] | None:
        """The current (or the named) ring key's id and its HMAC key; None: not configured."""
        ring = keyring()
        kid = ring.current if kid is None else kid
        raw = ring.keys.get(kid)
        if raw is None:
            return None
        derived = self._derived.get(raw)
        if derived is None:
            derived = self._derived[raw] = _derive(raw)
        return kid, derived

    def sign(self, claims: dict) -> str:
        key = self.store.current()
        headers = {"kid": key.kid, "typ": CHECKPOINT_TYP}
        return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)

    def verify(self, token: str) -> dict:
        """The claims of a checkpoint signed by any key of the folder, retired ones included."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise CheckpointSignatureError("checkpoint is not a JWS") from exc
        key = self.store.any_by_kid(header.get("kid", ""))
        if key is None or header.get("typ") != CHECKPOINT_TYP:
            raise CheckpointSignatureError(f"checkpoint signed by unknown key {header.get('kid')}")
        try:
            return jwt.decode(
                token,
                key.private_key.public_key(),
                algorithms=[key.alg],
                options={"verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise CheckpointSignatureError("checkpoint signature does not verify") from exc

    def public_jwk(self, token: str) -> dict | None:
        key = self.store.any_by_kid(jwt.get_unverified_header(token).get("kid", ""))
        return key.public_jwk() if key else None
