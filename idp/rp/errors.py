"""One exception family for relying apps and resource servers.

Every message is safe to show to a client or put in an ``error_description``: it never contains
the token, a key, or a value copied from an attacker-controlled header.
"""

from __future__ import annotations


class RPError(Exception):
    """Base of every error ``idp.rp`` raises."""


class InvalidToken(RPError):
    """The token is malformed, expired, not for us, or its signature does not verify.

    Maps to ``error="invalid_token"`` (RFC 6750 section 3.1).
    """

    error = "invalid_token"


class ProviderUnavailable(RPError):
    """Discovery or the JWKS could not be fetched, so no signature can be checked right now.

    This is the provider's (or the network's) fault, not the client's: a resource server should
    answer 503, not 401.
    """


class MalformedChallenge(RPError, ValueError):
    """A ``WWW-Authenticate`` header does not follow RFC 7235 section 4.1."""
