"""What Authlib calls "the user" of a grant: the user plus how they authenticated.

acr, amr, auth_time and sid travel with the user from the sign-in session into the code, from the
code into tokens, and from a refresh token into its successor, unchanged (RFC 9470 section 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Subject(Protocol):
    """What a token needs of its user: the row id it is stored under and the OIDC ``sub``."""

    @property
    def id(self) -> int: ...

    @property
    def sub(self) -> str: ...


@dataclass(frozen=True)
class SubjectRef:
    """A user's id and ``sub`` alone: a refresh issues no ID token, so it loads no ``User``."""

    id: int
    sub: str


U = TypeVar("U", bound=Subject)


@dataclass(frozen=True)
class Principal(Generic[U]):
    user: U  # a ``User`` where claims are released (code grant), else any ``Subject``
    acr: str
    amr: tuple[str, ...]
    auth_time: int
    sid: str | None

    @classmethod
    def of(cls, user: U, row) -> Principal[U]:
        """Rebuild from a stored code or token row carrying the authentication context."""
        return cls(user, row.acr, tuple(row.amr), row.auth_time, row.sid)
