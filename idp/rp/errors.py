"""One exception family for relying apps and resource servers.

Every message is safe to show to a client or put in an ``error_description``: it never contains
the token, a key, or a value copied from an attacker-controlled header. Each refusal a resource
server sends is one of these types; ``idp.rp.resource`` maps them to HTTP responses in one place
(``refusal``), and a server on another framework can map them the same way.
"""

from __future__ import annotations


class RPError(Exception):
    """Base of every error ``idp.rp`` raises."""


class MissingCredentials(RPError):
    """The request carries no bearer token: no ``Authorization`` header, or another scheme.

    RFC 6750 section 3.1: a request that "lacks any authentication information (e.g., the client
    was unaware that authentication is necessary or attempted using an unsupported
    authentication method)" gets a challenge that "SHOULD NOT include an error code".
    """

    error = None


class InvalidToken(RPError):
    """The token is malformed, expired, not for us, or its signature does not verify.

    Maps to ``error="invalid_token"`` (RFC 6750 section 3.1), answered with 401.
    """

    error = "invalid_token"


class InactiveToken(InvalidToken):
    """The token verified locally but the provider's introspection (RFC 7662 section 2.2) says
    it is not active any more: revoked, or ended with its grant. Still ``invalid_token``."""


class ProviderUnavailable(RPError):
    """Discovery, the JWKS or introspection could not be fetched, so no token can be checked.

    This is the provider's (or the network's) fault, not the client's: a resource server should
    answer 503, not 401.
    """


class InsufficientScope(RPError):
    """The token is valid but its ``scope`` lacks what the resource needs.

    RFC 6750 section 3.1: ``error="insufficient_scope"``, answered with 403, and the challenge
    "MAY include the scope attribute with the scope necessary to access the protected resource"
    -- every scope the resource needs, so the client can ask for one token that has them all.
    """

    error = "insufficient_scope"

    def __init__(self, description: str, scope: tuple[str, ...] = ()) -> None:
        super().__init__(description)
        self.scope = scope


class UserRequired(InsufficientScope):
    """A client's own token (client credentials, no user behind it) where a user's is needed.

    Also ``insufficient_scope`` with 403 -- "the request requires higher privileges than
    provided by the access token" -- and deliberately not RFC 9470's step-up challenge: a
    machine cannot sign in, so telling it to would only make it retry.
    """


class InsufficientUserAuthentication(RPError):
    """The user's sign-in is too weak or too old for the resource (RFC 9470 section 3).

    Answered with 401 and ``acr_values`` / ``max_age`` saying what would do.
    """

    error = "insufficient_user_authentication"

    def __init__(
        self, description: str, acr_values: tuple[str, ...] = (), max_age: int | None = None
    ) -> None:
        super().__init__(description)
        self.acr_values = acr_values
        self.max_age = max_age


class MalformedChallenge(RPError, ValueError):
    """A ``WWW-Authenticate`` header does not follow RFC 7235 section 4.1."""
