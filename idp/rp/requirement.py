"""What a protected page or API needs from the user's authentication, and whether a token has it.

A ``Requirement`` is the resource side of RFC 9470: ``acr_values`` and ``max_age`` are exactly
what a step-up challenge can ask the client for; ``amr`` is an extra check a resource may make
(RFC 8176 values, e.g. ``("hwk",)``) that no challenge parameter can express.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from idp.rp.acr import DEFAULT_LEVELS, AcrLevels


class AuthenticationFacts(Protocol):
    """Anything that says how the user authenticated: a verified token, or stored claims."""

    @property
    def acr(self) -> str | None: ...

    @property
    def amr(self) -> tuple[str, ...]: ...

    @property
    def auth_time(self) -> int | None: ...


@dataclass(frozen=True)
class Authentication:
    """acr, amr and auth_time (OIDC Core 2) taken from claims the app has already validated.

    For claims kept in a session after the sign-in: the ID token itself may have expired by the
    time a page asks, but what it said about the sign-in stays true.
    """

    acr: str | None
    amr: tuple[str, ...]
    auth_time: int | None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Authentication:
        """Read the three claims, ignoring values of the wrong type (they then count as absent)."""
        acr = claims.get("acr")
        amr = claims.get("amr")
        auth_time = claims.get("auth_time")
        return cls(
            acr=acr if isinstance(acr, str) else None,
            amr=tuple(v for v in amr if isinstance(v, str)) if isinstance(amr, list) else (),
            auth_time=auth_time if _is_int(auth_time) else None,
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _values(value: str | Iterable[str]) -> tuple[str, ...]:
    """A space-separated string (the wire format of ``acr_values``) or an iterable of strings."""
    if isinstance(value, str):
        return tuple(value.split())
    values = tuple(value)
    if not all(isinstance(v, str) and v and v.split() == [v] for v in values):
        raise ValueError("each value must be a non-empty string without spaces")
    return values


@dataclass(frozen=True)
class Requirement:
    """Satisfied if the acr is at least one of ``acr_values`` (by the level order), the amr
    contains every value in ``amr``, and the authentication is at most ``max_age`` seconds old.
    Each part applies only when given.
    """

    acr_values: tuple[str, ...] = ()
    amr: tuple[str, ...] = ()
    max_age: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "acr_values", _values(self.acr_values))
        object.__setattr__(self, "amr", _values(self.amr))
        if self.max_age is not None and (not _is_int(self.max_age) or self.max_age < 0):
            raise ValueError("max_age must be a non-negative integer (seconds)")

    def unmet(
        self,
        auth: AuthenticationFacts,
        *,
        now: float | None = None,
        levels: AcrLevels = DEFAULT_LEVELS,
    ) -> tuple[str, ...]:
        """The names of the parts not met: ``"acr"``, ``"amr"``, ``"max_age"``; empty if none.

        A missing ``auth_time`` fails ``max_age``: freshness that cannot be shown is not there.
        """
        reasons = []
        if self.acr_values and not any(levels.meets(auth.acr, v) for v in self.acr_values):
            reasons.append("acr")
        if not set(self.amr) <= set(auth.amr):
            reasons.append("amr")
        if self.max_age is not None:
            current = time.time() if now is None else now
            if auth.auth_time is None or current - auth.auth_time > self.max_age:
                reasons.append("max_age")
        return tuple(reasons)

    def satisfied_by(
        self,
        auth: AuthenticationFacts,
        *,
        now: float | None = None,
        levels: AcrLevels = DEFAULT_LEVELS,
    ) -> bool:
        """True if ``auth`` meets every part of the requirement."""
        return not self.unmet(auth, now=now, levels=levels)

    def describe(self, unmet: Iterable[str]) -> str:
        """A short English sentence naming what is missing, safe for ``error_description``."""
        parts = []
        for reason in unmet:
            if reason == "acr":
                parts.append(f"an authentication level of at least {' or '.join(self.acr_values)}")
            elif reason == "amr":
                parts.append(f"authentication methods {', '.join(self.amr)}")
            elif reason == "max_age":
                parts.append(f"an authentication within the last {self.max_age} seconds")
        return "This resource needs " + " and ".join(parts) if parts else ""
