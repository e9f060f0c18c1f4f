"""What one protected resource (a route of an API) asks of a verified access token.

Framework-free: ``AccessRule.check`` raises one of ``idp.rp.errors``' refusals, which
``idp.rp.resource`` turns into responses for Flask and another framework can map the same way.
The checks run in this order, each refusal saying what would do:

1. a user: a client's own token (client credentials) where a user is needed is
   ``UserRequired`` -- 403, never a step-up challenge, which a machine cannot answer;
2. ``scope``: every listed scope in the token's ``scope`` claim, else ``InsufficientScope``
   (403, RFC 6750 3.1) naming all of them -- before step-up, since signing in again would not
   add a scope;
3. the user's authentication (``Requirement``: acr, amr, max_age), else
   ``InsufficientUserAuthentication`` (401, RFC 9470 3).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from idp.rp.acr import DEFAULT_LEVELS, AcrLevels
from idp.rp.bearer import INSUFFICIENT_USER_AUTHENTICATION, bearer_challenge
from idp.rp.errors import InsufficientScope, InsufficientUserAuthentication, UserRequired
from idp.rp.requirement import Requirement
from idp.rp.tokens import VerifiedToken


def values(value: Iterable[str] | str) -> tuple[str, ...]:
    """A space-separated string (the wire format) or an iterable of values, as a tuple."""
    return tuple(value.split()) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class AccessRule:
    """``user``: whether a user's token is needed (False lets a client's own token in too).

    Bad values -- a scope or acr value no ``WWW-Authenticate`` header can carry, or a sign-in
    requirement on a rule that lets clients in -- fail when the rule is made, not per request.
    """

    scope: tuple[str, ...] = ()
    user: bool = True
    authentication: Requirement = field(default_factory=Requirement)
    levels: AcrLevels = DEFAULT_LEVELS

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", values(self.scope))
        needs_sign_in = self.authentication != Requirement()
        if needs_sign_in and not self.user:
            raise ValueError("a requirement on the user's sign-in needs user=True")
        bearer_challenge(  # raises ValueError for a value the header cannot carry
            INSUFFICIENT_USER_AUTHENTICATION,
            "check",
            acr_values=self.authentication.acr_values,
            max_age=self.authentication.max_age,
            scope=self.scope,
        )

    def check(self, token: VerifiedToken, *, now: float | None = None) -> None:
        """Return if ``token`` may use the resource; else raise the refusal."""
        if self.user and not token.has_resource_owner:
            raise UserRequired(
                "This resource needs a user's access token, not a client's own (client credentials)"
            )
        missing = [s for s in self.scope if s not in token.scopes]
        if missing:
            raise InsufficientScope(
                f"This resource needs the scope {' '.join(self.scope)}", self.scope
            )
        requirement = self.authentication
        current = time.time() if now is None else now
        unmet = requirement.unmet(token, now=current, levels=self.levels)
        if unmet:
            raise InsufficientUserAuthentication(
                requirement.describe(unmet), requirement.acr_values, requirement.max_age
            )
