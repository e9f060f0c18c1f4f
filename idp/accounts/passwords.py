"""Password hashing with argon2id (RFC 9106), parameters from configuration.

``verify_or_dummy`` hashes a dummy password for unknown users so that an unknown email and a
wrong password cost about the same time and cannot be told apart.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 8
MAX_LENGTH = 1024


class WeakPasswordError(ValueError):
    """The new password does not meet the minimum rules (NIST SP 800-63B 5.1.1.2)."""


def _hasher() -> PasswordHasher:
    hasher = current_app.extensions.get("idp.password_hasher")
    if hasher is None:
        cfg = current_app.config
        hasher = PasswordHasher(
            time_cost=cfg["ARGON2_TIME_COST"],
            memory_cost=cfg["ARGON2_MEMORY_COST"],
            parallelism=cfg["ARGON2_PARALLELISM"],
        )
        current_app.extensions["idp.password_hasher"] = hasher
        current_app.extensions["idp.dummy_hash"] = hasher.hash("dummy password for timing")
    return hasher


def check_policy(password: str) -> None:
    """Length only, as NIST advises: 8 to 1024 characters."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"Use at most {MAX_LENGTH} characters.")


def hash_password(password: str) -> str:
    check_policy(password)
    return _hasher().hash(password)


def rehash(password: str) -> str:
    """A new hash of a password that just verified, with the configured parameters (no policy
    check: the user chose it under the rules of its day)."""
    return _hasher().hash(password[:MAX_LENGTH])


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other argon2 parameters than the configured ones."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def verify(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; an unknown user (``None``) is checked against a dummy hash."""
    hasher = _hasher()
    target = password_hash or current_app.extensions["idp.dummy_hash"]
    try:
        ok = hasher.verify(target, password[:MAX_LENGTH])
    except (VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None
