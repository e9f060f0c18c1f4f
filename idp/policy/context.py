"""Values that cross from the protocol layer into the policy: what is known about a sign-in."""

from __future__ import annotations

from dataclasses import dataclass, field

from idp.policy.amr import with_mfa


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
    ``prompt=consent``. ``factor_kinds`` are the user's active second factors;
    ``trusted_device`` says this browser was remembered after a second factor.
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
    factor_kinds: frozenset[str] = frozenset()
    trusted_device: bool = False

    @property
    def auth_time(self) -> int | None:
        """Time of the last interactive authentication (OIDC Core 2, ``auth_time``)."""
        return max((e.at for e in self.events), default=None)

    @property
    def amr(self) -> tuple[str, ...]:
        """The distinct amr values the session earned, sorted, with ``mfa`` when it applies."""
        return with_mfa({v for e in self.events for v in e.amr})

    @property
    def has_second_factor(self) -> bool:
        """Some authentication in the session went beyond the password."""
        return any(e.method != "pwd" for e in self.events)
