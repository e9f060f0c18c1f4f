"""Offline access a user granted to apps (OIDC Core 11): refresh token families that outlive
the sign-in session, listed on the account page where the user can revoke each.

A family is one grant: one live refresh token at a time (rotation), so the live head of each
family is the grant as it stands.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from idp import audit
from idp.clock import now
from idp.extensions import db
from idp.models import Client, Token, User
from idp.models.tokens import revoke_where


@dataclass(frozen=True)
class OfflineGrant:
    """One app's offline access: since when, last refreshed, for which scope."""

    family: str
    client_name: str
    client_id: str
    granted_at: int
    last_used_at: int
    scope: str


def of(user: User) -> list[OfflineGrant]:
    """The user's live offline grants, the most recently used first."""
    first = (
        select(Token.family, func.min(Token.issued_at).label("granted_at"))
        .where(Token.user_id == user.id, Token.offline.is_(True))
        .group_by(Token.family)
        .subquery()
    )
    rows = db.session.execute(
        select(Token, Client.name, first.c.granted_at)
        .join(first, first.c.family == Token.family)
        .join(Client, Client.client_id == Token.client_id)
        .where(
            Token.user_id == user.id,
            Token.offline.is_(True),
            Token.rotated_at.is_(None),
            Token.revoked_at.is_(None),
            Token.family_expires_at > now(),
        )
        .order_by(Token.issued_at.desc())
    ).all()
    return [
        OfflineGrant(
            token.family,
            name,
            token.client_id,
            granted_at,
            token.issued_at,
            token.get_refresh_scope(),
        )  # fmt: skip
        for token, name, granted_at in rows
    ]


def revoke(user: User, family: str) -> bool:
    """Revoke one of the user's offline grants (audited); False if it is not theirs or live."""
    grant = next((g for g in of(user) if g.family == family), None)
    if grant is None:
        return False
    revoked = revoke_where(Token.family == family, Token.user_id == user.id)
    audit.record(
        "offline_access_revoked", actor=user.email, subject=user.sub,
        client_id=grant.client_id, tokens_revoked=revoked,
    )  # fmt: skip
    return True
