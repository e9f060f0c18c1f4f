"""The protocol errors the provider sends: one exception class per error code, named by its spec.

Authlib already defines most codes, each with ``error`` set and its spec in the docstring (or, where
its docstring lacks one, beside the import); those are reused, so one ``except`` catches what our
code and Authlib's grants raise alike. The one it lacks, ``unmet_authentication_requirements``, is
defined here.

The policy (``idp.policy``) must not import this layer, so its ``Fail`` names an error by its
code; ``for_code`` is the one place such a code becomes its class. Each endpoint family turns
these into responses in one place: ``views.oauth.authorization_error`` for the authorization
and logout endpoints, Authlib for the token endpoints, ``views.userinfo`` for bearer tokens.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,  # RFC 6749 4.1.2.1
    InvalidGrantError,  # RFC 6749 5.2
    InvalidRequestError,  # RFC 6749 4.1.2.1 and 5.2
    UnsupportedResponseTypeError,  # RFC 6749 4.1.2.1
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
    "InvalidTokenError",
    "LoginRequiredError",
    "OAuth2Error",
    "RequestNotSupportedError",
    "RequestURINotSupportedError",
    "UnmetAuthenticationRequirementsError",
    "UnsupportedResponseTypeError",
    "for_code",
]


class UnmetAuthenticationRequirementsError(OAuth2Error):
    """An essential ``acr`` (or the client's minimum) cannot be met: sent, not a weaker token.

    OpenID Connect Core Error Code unmet_authentication_requirements 1.0, section 1: "The
    Authorization Server is unable to meet the requirements of the Relying Party for the
    authentication of the End-User."
    https://openid.net/specs/openid-connect-unmet-authentication-requirements-1_0.html
    """

    error = "unmet_authentication_requirements"


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
)
_BY_CODE = {cls.error: cls for cls in AUTHORIZATION_ERRORS}


def for_code(code: str) -> type[OAuth2Error]:
    """The class of the authorization error ``code`` (as the policy's ``Fail`` names it).

    A code without a class is a programming error, so it raises ``KeyError``.
    """
    return _BY_CODE[code]
