"""The token generator and token storage: RFC 9068 JWT access tokens, opaque refresh tokens.

Access tokens are JWTs (``typ: at+jwt``) carrying acr, amr, auth_time, scope and client_id, so a
resource server can enforce step-up without a call back. Their ``jti`` is recorded so revocation
and introspection (RFC 7009, RFC 7662) can still answer "inactive".

The grants registered with ``SignAfterCommit`` (client credentials, refresh) sign their access
token only after their writes commit: the claims are fixed before the token row is written, and
the write lock (SQLite has one) is then held for the statements alone, not across an RSA
signature, while a refresh grant still rotates, writes and audits in one transaction.
"""

from __future__ import annotations

import base64
import json

from flask import current_app, g

from idp import audit, random_tokens
from idp.clock import now
from idp.models import Token
from idp.models.statements import (
    DriverStatement,
    claim_driver_transaction,
    commit_driver_transaction,
    driver_transaction_claimed,
    strict_insert,
)
from idp.models.tokens import RotatedRefresh
from idp.oauth2 import resources, scopes, signing
from idp.oauth2.principal import Principal


class UnsignedAccessToken:
    """An access token's claims, fixed and recorded, to be signed once the writes committed.

    Deliberately not a dataclass, which Flask's JSON encoder would turn into a dict: one that
    escaped its signing would fail the response instead of being sent.
    """

    __slots__ = ("claims",)

    def __init__(self, claims: dict) -> None:
        self.claims = claims


def issue_for(audience: tuple[str, ...], granted: tuple[str, ...]) -> None:
    """The resources (RFC 8707) of the token this request issues, set by its grant once
    validated: Authlib's generator hook below is not handed the request."""
    g.token_audience, g.token_resources = audience, granted


def generate_token(
    grant_type: str,
    client,
    user: Principal | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict:
    """Authlib's token generator hook: build the token response body.

    Like Authlib's own generator, it grants only the requested scopes the client is registered
    for (RFC 6749 section 3.3; the response's ``scope`` says which), and API scopes only to a
    client acting for itself (``scopes.for_grant``).
    """
    scope = scopes.for_grant(client.get_allowed_scope(scope), grant_type)
    ttl = expires_in or current_app.config["ACCESS_TOKEN_TTL"]
    issued = now()
    claims = {
        "iss": current_app.config["ISSUER"],
        "sub": user.user.sub if user else client.client_id,
        "aud": resources.aud_claim(g.get("token_audience", ()), client.client_id),
        "client_id": client.client_id,
        "iat": issued,
        "exp": issued + ttl,
        "jti": random_tokens.token(16),
        "scope": scope or "",
    }
    if user:
        claims.update(auth_time=user.auth_time, amr=list(user.amr))
        if user.acr:
            claims["acr"] = user.acr
        if user.sid:
            claims["sid"] = user.sid
    unsigned = driver_transaction_claimed()  # by a grant of SignAfterCommit
    token = {
        "token_type": "Bearer",
        "access_token": UnsignedAccessToken(claims) if unsigned else signing.sign(claims, "at+jwt"),
        "expires_in": ttl,
        "scope": scope or "",
    }
    if include_refresh_token and user and _refreshable(grant_type, client, scope or ""):
        token["refresh_token"] = random_tokens.token(32)
    return token


def _refreshable(grant_type: str, client, scope: str) -> bool:
    """A refresh token only for ``offline_access`` (OIDC Core 11) or a client registered for
    online ones; a refresh always has a successor (its family exists, whatever it narrows)."""
    return (
        grant_type == "refresh_token"
        or "offline_access" in scope.split()
        or bool(client.online_refresh)
    )


def save_token(token: dict, request) -> None:
    """Authlib's save_token hook: record the jti and the refresh token's digest and family.

    Run on the driver's cursor (``_INSERT``): this runs on every token request.
    """
    access_token = token["access_token"]
    if isinstance(access_token, UnsignedAccessToken):
        claims = access_token.claims
    else:
        claims = _unverified_claims(access_token)
    principal: Principal | None = request.user
    code = request.authorization_code
    row = {
        "jti": claims["jti"],
        "client_id": request.client.client_id,
        "user_id": principal.user.id if principal else None,
        "scope": token.get("scope", ""),
        "grant_type": request.payload.grant_type,
        "issued_at": claims["iat"],
        "access_expires_at": claims["exp"],
        "acr": principal.acr if principal else "",
        "amr": list(principal.amr) if principal else [],
        "auth_time": principal.auth_time if principal else None,
        "sid": principal.sid if principal else None,
        "code_id": code.id if code is not None else None,
        "refresh_digest": None,
        "refresh_scope": None,
        "family": None,
        "family_expires_at": None,
        "rotated_from": None,
        "audience": list(g.get("token_audience", ())) or None,
        "resources": None,
        "offline": False,
    }
    if "refresh_token" in token:
        row["resources"] = list(g.get("token_resources", ())) or None
        row.update(
            _family(token["refresh_token"], request.refresh_token, row["code_id"], row["scope"])
        )
        row["offline"] = "offline_access" in row["refresh_scope"].split()
    _INSERT.execute(**row)
    audit.record(
        "token_issued",
        client_id=row["client_id"],
        subject=principal.user.sub if principal else None,
        grant_type=row["grant_type"],
        jti=row["jti"],
        refresh="refresh_token" in token,
    )


_COLUMNS = (
    "jti", "client_id", "user_id", "scope", "grant_type", "issued_at", "access_expires_at",
    "acr", "amr", "auth_time", "sid", "code_id", "refresh_digest", "refresh_scope", "family",
    "family_expires_at", "rotated_from", "audience", "resources", "offline",
)  # fmt: skip
_INSERT = DriverStatement(strict_insert(Token.__table__, _COLUMNS))


def _family(
    refresh_token: str, previous: RotatedRefresh | None, code_id: int | None, scope: str
) -> dict:
    """A new refresh token continues its predecessor's family, records that predecessor (the
    family is one chain) and keeps its scope, not a narrowed one (RFC 6749 section 6); or it
    starts a family with the granted ``scope``."""
    rotated_from = None
    if previous is not None:
        family, expires, code_id = previous.family, previous.family_expires_at, previous.code_id
        scope, rotated_from = previous.get_scope(), previous.id
    else:
        family = random_tokens.token(16)
        expires = now() + current_app.config["REFRESH_TOKEN_TTL"]
    return {
        "refresh_digest": random_tokens.digest(refresh_token),
        "refresh_scope": scope,
        "family": family,
        "family_expires_at": expires,
        "code_id": code_id,
        "rotated_from": rotated_from,
    }


def _unverified_claims(jwt_value: str) -> dict:
    """Read claims of a JWT we have just signed ourselves (no need to verify our own work)."""
    payload = jwt_value.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class SignAfterCommit:
    """Grant extension: the grant runs its statements in the request's ``DriverTransaction``
    and, once its token response is ready, commits it, then signs the access token whose claims
    were recorded. Authlib applies it when it creates the grant for a request, so the grant that
    runs is the one that claims the transaction (``views.oauth.token``)."""

    def __call__(self, grant) -> None:
        claim_driver_transaction()
        grant.register_hook("after_create_token_response", _commit_then_sign)


def _commit_then_sign(grant, result: tuple) -> None:
    token = result[1]
    key = signing.keystore().current()  # may read the key store: a failure here changes nothing
    commit_driver_transaction()
    token["access_token"] = signing.sign(token["access_token"].claims, typ="at+jwt", key=key)
