"""What Authlib calls "the user" of a grant: the user plus how they authenticated.

acr, amr, auth_time and sid travel with the user from the sign-in session into the code, from the
code into tokens, and from a refresh token into its successor, unchanged (RFC 9470 section 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.models import User


@dataclass(frozen=True)
class Principal:
    user: User
    acr: str
    amr: tuple[str, ...]
    auth_time: int
    sid: str | None

    @classmethod
    def of(cls, user: User, row) -> Principal:
        """Rebuild from a stored code or token row carrying the authentication context."""
        return cls(user, row.acr, tuple(row.amr), row.auth_time, row.sid)
