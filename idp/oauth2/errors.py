"""The protocol errors the provider sends: one exception class per error code, named by its spec.

Authlib already defines most codes, each with ``error`` set and its spec in the docstring (or, where
its docstring lacks one, beside the import); those are reused, so one ``except`` catches what our
code and Authlib's grants raise alike. The one it lacks, ``unmet_authentication_requirements``, is
defined here, and so are the three whose Authlib text quotes the request (below).

The policy (``idp.policy``) must not import this layer, so its ``Fail`` names an error by its
code; ``for_code`` is the one place such a code becomes its class. Each endpoint family turns
these into responses in one place: ``views.oauth.authorization_error`` for the authorization
and logout endpoints, Authlib for the token endpoints, ``views.userinfo`` for bearer tokens.

A description is fixed text: it may name a parameter, never quote the request's value of it
(the only values sent back are those the protocol requires: ``state`` and the validated
redirect URI). Where Authlib writes a value into its text, an unsupported ``response_type``
or ``grant_type`` or an unregistered redirect URI, the provider raises a class or a text of
this module in its place (``server.Server``, ``grants``, ``endpoints``): a request could
otherwise have the provider show a sentence of its choosing on the error page or at the
client's redirect URI, and a ``"`` or ``\\`` in the value, characters RFC 6749 4.1.2.1 forbids
in a description, made Authlib's constructor raise ``ValueError``, a 500.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error, rfc6749
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,  # RFC 6749 4.1.2.1
    InvalidGrantError,  # RFC 6749 5.2
    InvalidRequestError,  # RFC 6749 4.1.2.1 and 5.2
)
from authlib.oauth2.rfc6750 import (
    InsufficientScopeError,  # RFC 6750 3.1
    InvalidTokenError,  # RFC 6750 3.1
)
from authlib.oidc.core.errors import (
    ConsentRequiredError,  # OIDC Core 1.0 3.1.2.6
    InteractionRequiredError,  # OIDC Core 1.0 3.1.2.6
    LoginRequiredError,  # OIDC Core 1.0 3.1.2.6
    RequestNotSupportedError,  # OIDC Core 1.0 3.1.2.6 and 6.1
    RequestURINotSupportedError,  # OIDC Core 1.0 3.1.2.6 and 6.2
)

__all__ = [
    "AUTHORIZATION_ERRORS",
    "AccessDeniedError",
    "ConsentRequiredError",
    "InsufficientScopeError",
    "InteractionRequiredError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidTargetError",
    "InvalidTokenError",
    "LoginRequiredError",
    "OAuth2Error",
    "RequestNotSupportedError",
    "RequestURINotSupportedError",
    "UNREGISTERED_REDIRECT_URI",
    "UnmetAuthenticationRequirementsError",
    "UnsupportedGrantTypeError",
    "UnsupportedResponseTypeError",
    "UnsupportedTokenTypeError",
    "for_code",
]

#: An ``invalid_request`` for a redirect URI the client did not register (RFC 6749 3.1.2.4):
#: shown on the provider's error page, never sent to that URI.
UNREGISTERED_REDIRECT_URI = "The redirect_uri is not registered for this client."


class UnmetAuthenticationRequirementsError(OAuth2Error):
    """An essential ``acr`` (or the client's minimum) cannot be met: sent, not a weaker token.

    OpenID Connect Core Error Code unmet_authentication_requirements 1.0, section 1: "The
    Authorization Server is unable to meet the requirements of the Relying Party for the
    authentication of the End-User."
    https://openid.net/specs/openid-connect-unmet-authentication-requirements-1_0.html
    """

    error = "unmet_authentication_requirements"


class InvalidTargetError(OAuth2Error):
    """RFC 8707 2: "The requested resource is invalid, missing, unknown, or malformed." At the
    authorization endpoint it is sent to the client's redirect URI; at the token endpoint it is
    a 400 (RFC 6749 5.2)."""

    error = "invalid_target"
    status_code = 400


class UnsupportedResponseTypeError(rfc6749.UnsupportedResponseTypeError):
    """RFC 6749 4.1.2.1: "The authorization server does not support obtaining an authorization
    code using this method." Authlib's quotes the ``response_type``; this one does not."""

    description = "The response_type is not supported: this provider issues only code."

    def __init__(self, *, state: str | None = None, redirect_uri: str | None = None) -> None:
        OAuth2Error.__init__(self, state=state, redirect_uri=redirect_uri)

    def get_error_description(self) -> str:
        return self.description


class UnsupportedGrantTypeError(rfc6749.UnsupportedGrantTypeError):
    """RFC 6749 5.2: "The authorization grant type is not supported by the authorization
    server." Authlib's quotes the ``grant_type`` (on the page a view may render); this one
    does not."""

    description = "The grant_type is not supported."

    def __init__(self) -> None:
        OAuth2Error.__init__(self)

    def get_error_description(self) -> str:
        return self.description


class UnsupportedTokenTypeError(rfc6749.UnsupportedTokenTypeError):
    """RFC 7009 2.2.1: "The authorization server does not support the revocation of the
    presented token type." Its error response is RFC 6749 5.2's, a 400: Authlib's says 401
    with no ``WWW-Authenticate`` challenge, though no credentials were wrong."""

    status_code = 400
    description = "The token_type_hint is not supported."


#: The errors an authorization request may end with, sent to the client's validated redirect
#: URI (RFC 6749 4.1.2.1; OIDC Core 1.0 3.1.2.6): every code the policy's ``Fail`` can name, and
#: the refusals of request objects, which the provider does not support (OIDC Core 1.0 6.1, 6.2).
AUTHORIZATION_ERRORS: tuple[type[OAuth2Error], ...] = (
    InvalidRequestError,
    AccessDeniedError,
    LoginRequiredError,
    InteractionRequiredError,
    ConsentRequiredError,
    UnmetAuthenticationRequirementsError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
    InvalidTargetError,
)
_BY_CODE = {cls.error: cls for cls in AUTHORIZATION_ERRORS}


def for_code(code: str) -> type[OAuth2Error]:
    """The class of the authorization error ``code`` (as the policy's ``Fail`` names it).

    A code without a class is a programming error, so it raises ``KeyError``.
    """
    return _BY_CODE[code]
