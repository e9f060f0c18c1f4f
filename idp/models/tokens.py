"""Authorization codes and issued tokens, with the atomic consumption RFC 6749 asks for.

* A code is single use (RFC 6749 section 4.1.2): ``consume`` is one conditional UPDATE, so two
  concurrent redemptions cannot both win; the loser learns the code was replayed.
* A refresh token is rotated at every use (RFC 9700 section 4.14.2): ``rotate_refresh`` is the
  same conditional UPDATE; replaying a rotated token revokes its whole family.
* A family stays one chain: each refresh token records the one whose rotation issued it
  (``rotated_from``), so a token rotated moments ago whose successor is still unused can be
  re-issued once more (``supersede_successor``, the grant's reuse interval) while the successor
  nobody received is retired, and at most one refresh token of a family is ever live.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin
from sqlalchemy import JSON, BigInteger, ForeignKey, String, bindparam, select, update
from sqlalchemy.orm import Mapped, mapped_column

from idp.clock import now
from idp.extensions import db
from idp.models.indexes import partial_index
from idp.models.statements import DriverStatement


class AuthenticationContextColumns:
    """acr, amr, auth_time and sid copied from the sign-in session; never recomputed later."""

    acr: Mapped[str] = mapped_column(String(200), default="")
    amr: Mapped[list] = mapped_column(JSON, default=list)
    auth_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuthorizationCode(AuthenticationContextColumns, db.Model, AuthorizationCodeMixin):
    """An issued authorization code, stored by digest."""

    __tablename__ = "authorization_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(1000), default="")
    nonce: Mapped[str | None] = mapped_column(String(512), nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The resources (RFC 8707) the authorization request asked for and was granted.
    resources: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")

    def consume(self) -> bool:
        """Mark the code used; True only for the one caller that wins the race."""
        result = db.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == self.id, AuthorizationCode.used_at.is_(None))
            .values(used_at=now())
        )
        return result.rowcount == 1

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.amr)


class Token(AuthenticationContextColumns, db.Model, TokenMixin):
    """One token response: the JWT access token's ``jti`` and, if any, a refresh token digest."""

    __tablename__ = "tokens"
    # Tokens are looked up by refresh digest, code or family only by a value: partial indexes,
    # so a client-credentials token (none of them) writes no page to them (migrations 0008, 0009).
    __table_args__ = (
        partial_index("uq_tokens_refresh_digest", "refresh_digest", unique=True),
        partial_index("ix_tokens_code_id", "code_id"),
        partial_index("ix_tokens_family", "family"),
        partial_index("ix_tokens_sid", "sid"),  # a session's tokens end with it (0016)
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    scope: Mapped[str] = mapped_column(String(1000), default="")
    grant_type: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[int] = mapped_column(BigInteger, default=now)
    access_expires_at: Mapped[int] = mapped_column(BigInteger)
    refresh_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The refresh token's own scope: the grant's, kept whole when a refresh narrows the access
    # token's ``scope`` (RFC 6749 section 6). NULL on rows before migration 0010: ``scope``.
    refresh_scope: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    family: Mapped[str | None] = mapped_column(String(64), nullable=True)
    family_expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rotated_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    code_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_codes.id", ondelete="SET NULL"), nullable=True
    )
    # The id of the refresh token whose rotation issued this one (migration 0013). A plain id,
    # not a foreign key: it is only compared (``supersede_successor``), and a key would make
    # every token INSERT check it and every token DELETE (a user's, by cascade) scan for it.
    rotated_from: Mapped[int | None] = mapped_column(nullable=True)
    #: The access token's audience (RFC 8707 resources; NULL: the client, as before 0015), and
    #: the resources the grant allows, which a refresh may narrow and its successor keeps.
    audience: Mapped[list | None] = mapped_column(JSON, nullable=True)
    resources: Mapped[list | None] = mapped_column(JSON, nullable=True)
    #: A refresh token of an ``offline_access`` grant: it outlives the sign-in session (OIDC
    #: Core 11). Every other row ends with its session (``idp.accounts.session_end``).
    offline: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    @staticmethod
    def rotate_refresh(digest: str, client_id: str) -> RotatedRefresh | None:
        """Retire a live refresh token of this client and return it; ``None`` if none matched.

        One conditional UPDATE, so of two concurrent uses of one token exactly one wins. Run on
        the driver's cursor (``_ROTATE``): this is the refresh grant's hot path.
        """
        found = _ROTATE.first(digest=digest, owner=client_id, at=now())
        return RotatedRefresh(*found) if found is not None else None

    @staticmethod
    def presented_refresh(digest: str) -> PresentedRefresh | None:
        """The refresh token with this digest as it stands, whatever its state or client: what
        a grant looks at once ``rotate_refresh`` found no live token to rotate."""
        found = _PRESENTED.first(digest=digest)
        return PresentedRefresh(RotatedRefresh(*found[:-2]), *found[-2:]) if found else None

    @staticmethod
    def supersede_successor(previous: RotatedRefresh, at: int) -> str | None:
        """Retire the still unused successor of ``previous`` (rotated and revoked, access token
        included) and return its ``jti``; ``None`` if it has been used or revoked meanwhile.

        One conditional UPDATE, like the rotation: of two requests that would supersede the
        same successor, or use it, exactly one wins.
        """
        found = _SUPERSEDE.first(family=previous.family, previous=previous.id, at=at)
        return found[0] if found is not None else None

    def check_client(self, client) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_refresh_scope(self) -> str:
        """The scope the refresh token carries (what a refresh may ask for at most)."""
        return refresh_scope_of(self)

    def get_expires_in(self) -> int:
        return self.access_expires_at - self.issued_at

    def is_expired(self) -> bool:
        return now() >= self.access_expires_at

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class RotatedRefresh:
    """The columns of a just-rotated refresh token that its successor needs."""

    id: int
    client_id: str
    user_id: int
    scope: str
    refresh_scope: str | None
    family: str
    family_expires_at: int
    code_id: int | None
    acr: str
    amr: list
    auth_time: int | None
    sid: str | None
    resources: list | None
    offline: bool

    def get_scope(self) -> str:
        """The refresh token's scope: the most a refresh may ask for, and its default."""
        return refresh_scope_of(self)


@dataclass(frozen=True)
class PresentedRefresh:
    """A refresh token that could not be rotated, with the two facts that say why."""

    token: RotatedRefresh
    rotated_at: int | None
    revoked_at: int | None


def refresh_scope_of(row: Token | RotatedRefresh) -> str:
    """A refresh token's own scope; a row from before migration 0010 has none: its ``scope``."""
    return row.scope if row.refresh_scope is None else row.refresh_scope


_table = Token.__table__
_ROTATE = DriverStatement(
    _table.update()
    .where(
        _table.c.refresh_digest == bindparam("digest"),
        _table.c.client_id == bindparam("owner"),
        _table.c.rotated_at.is_(None),
        _table.c.revoked_at.is_(None),
        _table.c.family_expires_at > bindparam("at"),
    )
    .values(rotated_at=bindparam("at"))
    .returning(*(_table.c[f.name] for f in fields(RotatedRefresh)))
)
_PRESENTED = DriverStatement(
    select(
        *(_table.c[f.name] for f in fields(RotatedRefresh)),
        _table.c.rotated_at,
        _table.c.revoked_at,
    ).where(_table.c.refresh_digest == bindparam("digest"))
)
# By family first: ``ix_tokens_family`` finds the few rows of one family; no index of its own.
_SUPERSEDE = DriverStatement(
    _table.update()
    .where(
        _table.c.family == bindparam("family"),
        _table.c.rotated_from == bindparam("previous"),
        _table.c.rotated_at.is_(None),
        _table.c.revoked_at.is_(None),
    )
    .values(rotated_at=bindparam("at"), revoked_at=bindparam("at"))
    .returning(_table.c.jti)
)


def revoke_where(*criteria) -> int:
    """Revoke every live token matching ``criteria``; returns how many were revoked."""
    result = db.session.execute(
        update(Token).where(Token.revoked_at.is_(None), *criteria).values(revoked_at=now())
    )
    return result.rowcount
