"""Values that cross from the protocol layer into the policy: what is known about a sign-in."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AuthEvent:
    """One interactive authentication in the session: its method, RFC 8176 amr values, time."""

    method: str
    amr: tuple[str, ...]
    at: int


@dataclass(frozen=True)
class AuthContext:
    """Everything ``decide`` may look at, gathered by the caller.

    ``interaction_started`` is when this authorization request first arrived: ``prompt=login``
    is satisfied by an authentication at or after it (OIDC Core 3.1.2.1).
    """

    now: int
    user_id: str | None
    roles: frozenset[str] = frozenset()
    events: tuple[AuthEvent, ...] = ()
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    essential_acr: tuple[str, ...] = ()
    interaction_started: int = 0
    first_party: bool = False
    consent_granted: bool = False
    requested_scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def auth_time(self) -> int | None:
        """Time of the last interactive authentication (OIDC Core 2, ``auth_time``)."""
        return max((e.at for e in self.events), default=None)

    @property
    def amr(self) -> tuple[str, ...]:
        """The distinct amr values the session earned, sorted for a stable claim."""
        return tuple(sorted({v for e in self.events for v in e.amr}))
