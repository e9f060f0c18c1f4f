"""The client's side of RFC 9470: read a step-up challenge, ask the provider for more.

A resource server refuses a token with ``error="insufficient_user_authentication"`` and says
what it wants in ``acr_values`` and ``max_age``. The client sends the user back to the
authorization endpoint with those same parameters (RFC 9470 section 4); OIDC Core 3.1.2.1
defines both, and 5.5.1.1 lets a client mark the acr as essential through the ``claims``
parameter, so that a provider that cannot meet it answers
``error=unmet_authentication_requirements`` (OpenID Connect Core Unmet Authentication
Requirements 1.0) instead of silently issuing a weaker token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from idp.rp.auth_header import parse_challenges
from idp.rp.bearer import INSUFFICIENT_USER_AUTHENTICATION
from idp.rp.errors import MalformedChallenge

UNMET_AUTHENTICATION_REQUIREMENTS = "unmet_authentication_requirements"


class StepUpRequest(Protocol):
    """What a new authorization request needs: a ``StepUpChallenge`` or a ``Requirement``."""

    @property
    def acr_values(self) -> tuple[str, ...]: ...

    @property
    def max_age(self) -> int | None: ...


@dataclass(frozen=True)
class StepUpChallenge:
    """The parameters of a ``Bearer`` challenge a resource server sent back."""

    error: str | None
    description: str | None
    acr_values: tuple[str, ...]
    max_age: int | None

    @property
    def needs_step_up(self) -> bool:
        """True for RFC 9470's ``insufficient_user_authentication``."""
        return self.error == INSUFFICIENT_USER_AUTHENTICATION

    @classmethod
    def from_header(cls, header: str | Iterable[str]) -> StepUpChallenge | None:
        """The first ``Bearer`` challenge of a ``WWW-Authenticate`` header, or None if none.

        Raises ``MalformedChallenge`` if the header cannot be parsed or ``max_age`` is not a
        non-negative integer (RFC 9470 section 3).
        """
        for challenge in parse_challenges(header):
            if challenge.scheme != "bearer":
                continue
            params = challenge.params
            return cls(
                error=params.get("error"),
                description=params.get("error_description"),
                acr_values=tuple(params.get("acr_values", "").split()),
                max_age=_max_age(params.get("max_age")),
            )
        return None


def _max_age(value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise MalformedChallenge("max_age must be a non-negative integer")
    return int(value)


def authorization_params(request: StepUpRequest, *, essential_acr: bool = False) -> dict[str, str]:
    """Extra authorization-request parameters for a step-up, e.g. for Authlib's
    ``authorize_redirect(redirect_uri, **params)``.

    ``essential_acr`` adds ``claims={"id_token":{"acr":{"essential":true,"values":[...]}}}``, so
    the provider refuses rather than downgrades.
    """
    params: dict[str, str] = {}
    if request.acr_values:
        params["acr_values"] = " ".join(request.acr_values)
    if request.max_age is not None:
        params["max_age"] = str(request.max_age)
    if essential_acr and request.acr_values:
        acr = {"essential": True, "values": list(request.acr_values)}
        params["claims"] = json.dumps({"id_token": {"acr": acr}}, separators=(",", ":"))
    return params
