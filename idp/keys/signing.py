"""Signing keys: load, publish (JWKS) and rotate, kept as files under ``IDP_KEYS_DIR``.

``keys.json`` lists every key with its ``kid``, algorithm, and the time it stopped signing. The
newest key signs; a retired key stays in the JWKS until every token signed with it has expired
(retired_at + the longest token lifetime), then it is dropped from the published set.
Workers notice a rotation by the index file's modification time, checked at most once a second,
so no restart is needed.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from idp import random_tokens
from idp.clock import now

RELOAD_INTERVAL = 1.0  # seconds between checks of keys.json for a rotation


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: object
    retired_at: int | None

    def public_jwk(self) -> dict:
        algo = jwt.get_algorithm_by_name(self.alg)
        jwk = json.loads(algo.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


class KeyStore:
    """The key set of one keys folder, reloaded when its index changes."""

    def __init__(self, folder: str | Path, max_token_ttl: int) -> None:
        self.folder = Path(folder)
        self.max_token_ttl = max_token_ttl
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._keys: list[SigningKey] = []
        self._checked = 0.0

    @property
    def index_path(self) -> Path:
        return self.folder / "keys.json"

    def ensure(self, alg: str) -> bool:
        """Create a first key if the folder has none; True if one was made.

        A file lock makes several workers starting at once create a single key.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.index_path.exists():
                return False
            self.rotate(alg)
            return True

    def current(self) -> SigningKey:
        """The key that signs new tokens."""
        keys = self._load()
        if not keys:
            raise RuntimeError(f"no signing key in {self.folder}; run 'idp keys rotate'")
        return keys[-1]

    def by_kid(self, kid: str) -> SigningKey | None:
        return next((k for k in self._published() if k.kid == kid), None)

    def any_by_kid(self, kid: str) -> SigningKey | None:
        """A key of the folder, retired and unpublished ones too (old audit checkpoints)."""
        return next((k for k in self._load() if k.kid == kid), None)

    def jwks(self) -> dict:
        return {"keys": [k.public_jwk() for k in self._published()]}

    def rotate(self, alg: str) -> SigningKey:
        """Start signing with a new key; the previous one is retired now, published a while."""
        self.folder.mkdir(parents=True, exist_ok=True)
        entries = self._read_index()
        stamp = now()
        for entry in entries:
            entry.setdefault("retired_at", None)
            if entry["retired_at"] is None:
                entry["retired_at"] = stamp
        kid = f"{stamp}-{random_tokens.token(6)}"
        _write_private(self.folder / f"{kid}.pem", _generate(alg))
        entries.append({"kid": kid, "alg": alg, "created_at": stamp, "retired_at": None})
        _atomic_write(self.index_path, json.dumps(entries, indent=2))
        self._checked = 0.0
        return self.current()

    def _published(self) -> list[SigningKey]:
        cutoff = now() - self.max_token_ttl
        return [k for k in self._load() if k.retired_at is None or k.retired_at > cutoff]

    def _load(self) -> list[SigningKey]:
        if time.monotonic() - self._checked < RELOAD_INTERVAL and self._mtime is not None:
            return self._keys
        self._checked = time.monotonic()
        try:
            mtime = self.index_path.stat().st_mtime
        except FileNotFoundError:
            return []
        if mtime != self._mtime:
            with self._lock:
                self._keys = [self._load_one(e) for e in self._read_index()]
                self._mtime = mtime
        return self._keys

    def _load_one(self, entry: dict) -> SigningKey:
        pem = (self.folder / f"{entry['kid']}.pem").read_bytes()
        private = serialization.load_pem_private_key(pem, password=None)
        return SigningKey(entry["kid"], entry["alg"], private, entry.get("retired_at"))

    def _read_index(self) -> list[dict]:
        if not self.index_path.exists():
            return []
        return json.loads(self.index_path.read_text())


def _generate(alg: str):
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_private(path: Path, key) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
