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

    ``reauthenticated`` says the user authenticated interactively while this authorization
    request was waiting: that, and only that, satisfies ``prompt=login`` (OIDC Core 3.1.2.1).
    A flag rather than a time comparison, so a sign-in in the same second as an earlier one
    still counts and an earlier one never does. ``consented_during_request`` is the same for
    ``prompt=consent``.
    """

    now: int
    user_id: str | None
    roles: frozenset[str] = frozenset()
    events: tuple[AuthEvent, ...] = ()
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    essential_acr: tuple[str, ...] = ()
    reauthenticated: bool = False
    consented_during_request: bool = False
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
