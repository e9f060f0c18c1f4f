"""``idp.rp``: what a relying app or a resource server needs to verify this provider's tokens
and take part in RFC 9470 step-up.

Import it without the provider: it depends on PyJWT, cryptography and requests only (the
``idp-rp`` distribution in this repository's ``idp-rp/`` folder installs just that), and on
Flask only for ``require_auth`` / ``current_token`` (loaded on first use, from
``idp.rp.resource``).

Resource server (an API a client asked a token for with ``resource=https://api.example/``)::

    verifier = TokenVerifier("https://idp.example", resource="https://api.example/")

    @app.get("/billing")
    @require_auth(verifier, scope="billing", acr_values=["urn:idp:acr:mfa"], max_age=300)
    def billing():
        return {"sub": current_token().subject}      # also in flask.g.rp_token

Web app, on a 401 from such a resource server::

    challenge = StepUpChallenge.from_header(response.headers["WWW-Authenticate"])
    if challenge and challenge.needs_step_up:
        return oauth.idp.authorize_redirect(redirect_uri, **authorization_params(challenge))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idp.rp.access import AccessRule
from idp.rp.acr import DEFAULT_LEVELS, MFA, PASSWORD, PHR, PHRH, AcrLevels
from idp.rp.auth_header import Challenge, format_challenge, parse_challenges
from idp.rp.bearer import (
    INSUFFICIENT_SCOPE,
    INSUFFICIENT_USER_AUTHENTICATION,
    bearer_challenge,
    bearer_token,
)
from idp.rp.claims import Claims
from idp.rp.errors import (
    InactiveToken,
    InsufficientScope,
    InsufficientUserAuthentication,
    InvalidToken,
    MalformedChallenge,
    MissingCredentials,
    ProviderUnavailable,
    RPError,
    UserRequired,
)
from idp.rp.introspection import Introspection
from idp.rp.jwks import ALGORITHMS, ProviderKeys
from idp.rp.requirement import Authentication, Requirement
from idp.rp.step_up import (
    UNMET_AUTHENTICATION_REQUIREMENTS,
    StepUpChallenge,
    authorization_params,
)
from idp.rp.tokens import TokenVerifier, VerifiedToken

if TYPE_CHECKING:
    from idp.rp.resource import current_token, refusal, require_auth

_FLASK_NAMES = frozenset({"require_auth", "current_token", "refusal"})

__all__ = [
    "ALGORITHMS",
    "DEFAULT_LEVELS",
    "INSUFFICIENT_SCOPE",
    "INSUFFICIENT_USER_AUTHENTICATION",
    "MFA",
    "PASSWORD",
    "PHR",
    "PHRH",
    "UNMET_AUTHENTICATION_REQUIREMENTS",
    "AccessRule",
    "AcrLevels",
    "Authentication",
    "Challenge",
    "Claims",
    "InactiveToken",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "Introspection",
    "InvalidToken",
    "MalformedChallenge",
    "MissingCredentials",
    "ProviderKeys",
    "ProviderUnavailable",
    "RPError",
    "Requirement",
    "StepUpChallenge",
    "TokenVerifier",
    "UserRequired",
    "VerifiedToken",
    "authorization_params",
    "bearer_challenge",
    "bearer_token",
    "current_token",
    "format_challenge",
    "parse_challenges",
    "refusal",
    "require_auth",
]


def __getattr__(name: str) -> Any:
    """PEP 562: import the Flask-specific names only when asked for."""
    if name in _FLASK_NAMES:
        from idp.rp import resource

        return getattr(resource, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
