"""Encryption at rest for factor secrets: AES-256-GCM with key ids, from configuration.

Keys come from ``IDP_ENCRYPTION_KEY`` (``kid:base64url-32-bytes``, several separated by commas,
the first one encrypting) or, in development only, from ``instance/encryption_keys.json``
generated once. Every ciphertext names its key (``v1.<kid>.<nonce>.<ciphertext>``), so
``idp keys rotate-encryption`` can re-encrypt rows one by one while every key stays readable:
no downtime. The associated data binds a ciphertext to its row and column, so a ciphertext
copied into another row does not decrypt.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from idp import random_tokens
from idp.config import ConfigError

log = logging.getLogger(__name__)


class EncryptionKeyError(ConfigError):
    """The encryption key configuration is missing or malformed; the message says which."""


class DecryptionError(Exception):
    """A ciphertext was tampered with, moved, or names a key that is no longer configured."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class KeyRing:
    """Named AES-256 keys; ``current`` encrypts, all of them decrypt."""

    keys: dict[str, bytes]
    current: str

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        keys: dict[str, bytes] = {}
        order = []
        for item in filter(None, (p.strip() for p in spec.split(","))):
            kid, sep, value = item.partition(":")
            if not sep or not kid.isalnum():
                raise EncryptionKeyError("IDP_ENCRYPTION_KEY: expected kid:base64key[,kid:key]")
            try:
                raw = _unb64(value)
            except ValueError as exc:
                raise EncryptionKeyError(f"IDP_ENCRYPTION_KEY: key {kid} is not base64") from exc
            if len(raw) != 32:
                raise EncryptionKeyError(f"IDP_ENCRYPTION_KEY: key {kid} must be 32 bytes")
            keys[kid] = raw
            order.append(kid)
        if not order:
            raise EncryptionKeyError("IDP_ENCRYPTION_KEY: no key given")
        return cls(keys, order[0])

    def spec(self) -> str:
        ordered = [self.current, *(k for k in self.keys if k != self.current)]
        return ",".join(f"{kid}:{_b64(self.keys[kid])}" for kid in ordered)

    def with_new_key(self) -> KeyRing:
        """A ring whose new, random key encrypts from now on; old keys stay for decryption."""
        kid = "k" + random_tokens.token(6).replace("-", "").replace("_", "")[:8]
        return KeyRing({**self.keys, kid: AESGCM.generate_key(bit_length=256)}, kid)

    def encrypt(self, plaintext: bytes, aad: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext, aad.encode())
        return f"v1.{self.current}.{_b64(nonce)}.{_b64(sealed)}"

    def decrypt(self, token: str, aad: str) -> bytes:
        try:
            version, kid, nonce, sealed = token.split(".")
        except ValueError as exc:
            raise DecryptionError("malformed ciphertext") from exc
        if version != "v1" or kid not in self.keys:
            raise DecryptionError(f"ciphertext needs key {kid!r}, which is not configured")
        try:
            return AESGCM(self.keys[kid]).decrypt(_unb64(nonce), _unb64(sealed), aad.encode())
        except Exception as exc:  # InvalidTag: tampered, or bound to another row
            raise DecryptionError("ciphertext does not authenticate") from exc

    def key_id_of(self, token: str) -> str:
        return token.split(".")[1]


def development_ring(instance: Path) -> KeyRing:
    """The generated development key file; created once, mode 600."""
    path = instance / "encryption_keys.json"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        ring = KeyRing({"dev1": AESGCM.generate_key(bit_length=256)}, "dev1")
        save_development_ring(path, ring)
        log.warning("IDP_ENCRYPTION_KEY unset: generated a development key in %s", path)
    return KeyRing.parse(json.loads(path.read_text())["spec"])


def save_development_ring(path: Path, ring: KeyRing) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"spec": ring.spec()}, fh)
    os.replace(tmp, path)


def factor_aad(factor_id: int, kind: str) -> str:
    """Associated data of a factor's secret: the ciphertext only opens in its own row."""
    return f"factor:{factor_id}:{kind}"


class _FileRing:
    """The development key file, re-read (at most once a second) when it changes, so that
    ``idp keys rotate-encryption`` is picked up by a running server without a restart."""

    def __init__(self, instance: Path) -> None:
        self.path = instance / "encryption_keys.json"
        self.ring = development_ring(instance)
        self.mtime = self.path.stat().st_mtime
        self.checked = time.monotonic()

    def get(self) -> KeyRing:
        if time.monotonic() - self.checked >= 1.0:
            self.checked = time.monotonic()
            mtime = self.path.stat().st_mtime
            if mtime != self.mtime:
                self.ring = KeyRing.parse(json.loads(self.path.read_text())["spec"])
                self.mtime = mtime
        return self.ring


def init_app(app) -> None:
    """The configured keys (fixed for the process), or the development key file."""
    spec = app.config["ENCRYPTION_KEY"]
    source = KeyRing.parse(spec) if spec else _FileRing(Path(app.config["INSTANCE_PATH"]))
    app.extensions["idp.keyring"] = source


def keyring() -> KeyRing:
    source = current_app.extensions["idp.keyring"]
    return source.get() if isinstance(source, _FileRing) else source
