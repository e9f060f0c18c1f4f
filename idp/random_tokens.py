"""Random values and their digests, compared in constant time.

High-entropy secrets (client secrets, codes, refresh tokens, reset links) are stored only as
SHA-256 digests: they cannot be guessed, so a slow hash adds nothing but latency.
"""

import hashlib
import hmac
import secrets


def token(nbytes: int = 32) -> str:
    """A URL-safe random value with ``nbytes`` bytes (256 bits by default) of entropy."""
    return secrets.token_urlsafe(nbytes)


def identifier(nbytes: int = 16) -> str:
    """A random public identifier (a client_id) that never begins with ``-``.

    Operators type these as command arguments (``idp clients update CLIENT_ID``), where a leading
    dash would be read as an option; one in 64 URL-safe values starts with one, so draw again.
    """
    value = token(nbytes)
    while value.startswith("-"):
        value = token(nbytes)
    return value


def digest(value: str) -> str:
    """Hex SHA-256 of ``value``, the form in which secrets are stored."""
    return hashlib.sha256(value.encode()).hexdigest()


def matches(value: str, stored_digest: str | None) -> bool:
    """Constant-time check of ``value`` against a stored digest."""
    if not stored_digest:
        return False
    return hmac.compare_digest(digest(value), stored_digest)
