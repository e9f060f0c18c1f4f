"""Authlib grants with the provider's storage and the two defaults we override.

* PKCE (RFC 7636): only S256, ``plain`` is refused; every client sends a challenge (RFC 9700
  2.1.1) unless a confidential one was registered with the audited opt-out.
* Code redemption: consumed atomically; a replayed code revokes every token issued from it
  (RFC 6749 section 4.1.2). Refresh tokens rotate; a replayed one revokes its family
  (RFC 9700 section 4.14.2), with a short reuse interval for a response that was lost
  (``RefreshTokenGrant``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.grants.util import is_openid_scope
from authlib.oidc.core.util import create_half_hash
from flask import current_app
from flask import request as flask_request
from sqlalchemy import bindparam, select

from idp import audit, random_tokens
from idp.clock import now
from idp.extensions import db
from idp.models import AuthorizationCode, LoginSession, Token, User
from idp.models.statements import DriverStatement, leave_driver_transaction
from idp.models.tokens import PresentedRefresh, RotatedRefresh, revoke_where
from idp.oauth2 import claims as user_claims
from idp.oauth2 import resources, signing, tokens
from idp.oauth2.errors import UNREGISTERED_REDIRECT_URI, InvalidGrantError, InvalidRequestError
from idp.oauth2.principal import Principal, SubjectRef

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class S256CodeChallenge(CodeChallenge):
    """RFC 7636 restricted to S256 and required of every client (RFC 9700 section 2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if challenge and method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256; plain is not allowed")
        if not challenge and not grant.request.client.allow_no_pkce:
            raise InvalidRequestError("PKCE is required: send a code_challenge (S256)")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result) -> None:
        """RFC 7636 4.6: a code issued with a challenge is only redeemed with its verifier; a
        request without one fails that check (``invalid_grant``), as certified providers say."""
        request = grant.request
        challenge = self.get_authorization_code_challenge(request.authorization_code)
        if challenge and not request.form.get("code_verifier"):
            raise InvalidGrantError("this code was issued with a code_challenge: send its verifier")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @staticmethod
    def validate_authorization_redirect_uri(request, client) -> str:
        """A redirect URI the client did not register is refused on the provider's page (RFC
        6749 3.1.2.4) with text that does not quote it, as Authlib's does (``errors``)."""
        uri = request.payload.redirect_uri
        if uri and not client.check_redirect_uri(uri):
            raise InvalidRequestError(UNREGISTERED_REDIRECT_URI)
        return grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(request, client)

    def validate_authorization_request(self) -> str:
        """Authlib's checks, then the resources asked for (RFC 8707): each registered for the
        client, else ``invalid_target`` to the redirect URI, before anyone signs in."""
        redirect_uri = super().validate_authorization_request()
        state = self.request.payload.state
        resources.authorized(
            self.request.client, flask_request.values, state=state, redirect_uri=redirect_uri
        )
        return redirect_uri

    def validate_token_request(self) -> None:
        """The code's checks, then the token's resources: those asked, within the code's."""
        super().validate_token_request()
        granted = tuple(self.request.authorization_code.resources or ())
        audience = resources.audience(self.request.client, flask_request.values, granted)
        tokens.issue_for(audience, granted)

    def save_authorization_code(self, code: str, request) -> AuthorizationCode:
        principal: Principal = request.user
        data = request.payload.data
        row = AuthorizationCode(
            digest=random_tokens.digest(code),
            client_id=request.client.client_id,
            user_id=principal.user.id,
            redirect_uri=request.payload.redirect_uri or "",
            scope=" ".join(dict.fromkeys(scope_to_list(request.scope) or [])),
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=now() + current_app.config["AUTHORIZATION_CODE_TTL"],
            acr=principal.acr,
            amr=list(principal.amr),
            auth_time=principal.auth_time,
            sid=principal.sid,
            resources=list(resources.requested(flask_request.values)),
        )
        db.session.add(row)
        return row

    def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:
        """Find the code and consume it in one conditional UPDATE; detect replay."""
        row = db.session.execute(
            select(AuthorizationCode).where(AuthorizationCode.digest == random_tokens.digest(code))
        ).scalar()
        if row is None or row.client_id != client.client_id:
            return None
        if not row.consume():
            _revoke_replayed_code(row)
            raise InvalidGrantError("authorization code was already used")
        if row.expires_at <= now():
            return None
        return row

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: the code was consumed atomically when it was looked up."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Principal | None:
        """The code's user, unless their account was disabled since (``invalid_grant``)."""
        user = db.session.get(User, authorization_code.user_id)
        return Principal.of(user, authorization_code) if user and user.enabled else None


def _revoke_replayed_code(row: AuthorizationCode) -> None:
    """RFC 6749 4.1.2: a code used twice revokes the tokens issued from it; kept on error."""
    db.session.rollback()
    revoked = revoke_where(Token.code_id == row.id)
    audit.record(
        "code_replay_detected",
        outcome="failure",
        client_id=row.client_id,
        subject=audit.subject_of(row.user_id),
        tokens_revoked=revoked,
    )
    db.session.commit()


class OpenIDConnectCode(OpenIDCode):
    """OIDC Core 3.1 for the code grant: signs the ID token with the provider's key set.

    ``prompt`` is left to the policy (``idp.policy.decide``), so Authlib's own prompt hook is
    not registered.
    """

    def exists_nonce(self, nonce: str, request) -> bool:
        stmt = select(AuthorizationCode.id).where(
            AuthorizationCode.client_id == request.payload.client_id,
            AuthorizationCode.nonce == nonce,
        )
        return db.session.execute(stmt.limit(1)).first() is not None

    def generate_user_info(self, user: Principal, scope: str) -> dict:
        return user_claims.for_scope(user.user, scope)

    def encode_id_token(self, token: dict, request) -> str:
        principal: Principal = request.user
        issued = now()
        claims = {
            "iss": current_app.config["ISSUER"],
            "aud": request.client.client_id,
            "iat": issued,
            "exp": issued + current_app.config["ID_TOKEN_TTL"],
            "auth_time": principal.auth_time,
            "amr": list(principal.amr),
            **user_claims.for_scope(principal.user, token["scope"]),
        }
        if principal.acr:
            claims["acr"] = principal.acr
        if principal.sid:
            claims["sid"] = principal.sid
        if request.authorization_code is not None and request.authorization_code.nonce:
            claims["nonce"] = request.authorization_code.nonce
        alg = signing.keystore().current().alg
        claims["at_hash"] = create_half_hash(token["access_token"], alg).decode()
        return signing.sign(claims)

    def __call__(self, grant) -> None:
        grant.register_hook("after_create_token_response", self.process_token)
        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook(
                "after_validate_authorization_request_payload",
                self.validate_openid_authorization_request,
            )


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """RFC 6749 section 6 with rotation: every use retires the token and issues a successor.

    RFC 9700 4.14.2: "If a refresh token is compromised and subsequently used by both the
    attacker and the legitimate client, one of them will present an invalidated refresh token,
    which will inform the authorization server of the breach", which then revokes the family.

    A response can be lost after the rotation committed (a worker killed, a connection cut), and
    the client's retry would then revoke its own family. Like hosted providers' reuse interval,
    a token rotated at most ``IDP_REFRESH_REUSE_INTERVAL`` seconds ago whose successor is still
    unused is re-issued to the client it belongs to, once authenticated (a public client only
    with ``IDP_REFRESH_REUSE_PUBLIC``): that successor, which nobody has used, is retired in the
    same transaction, so the family stays one chain with one live token, and whoever holds the
    retired one (had it been received after all) presents a rotated token, a replay. The
    interval counts from the first rotation, so retries cannot extend it. Anything else that
    presents a rotated token (after the interval, another client, a successor already used) is
    a replay and revokes the family.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    reused: Reuse | None = None

    def _validate_request_token(self, client) -> RotatedRefresh:
        """Rotate in one conditional UPDATE; only a failure looks closer (reuse or replay)."""
        value = self.request.form.get("refresh_token")
        if not value:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        digest = random_tokens.digest(value)
        row = Token.rotate_refresh(digest, client.client_id)
        if row is not None:
            return row
        presented, at = Token.presented_refresh(digest), now()
        refusal = _reuse_refusal(presented, client, at)
        if refusal is None:
            superseded = Token.supersede_successor(presented.token, at)
            if superseded is not None:
                self.reused = Reuse(at - presented.rotated_at, superseded)
                return presented.token
            refusal = "successor_used"
        leave_driver_transaction()  # what follows needs the ORM, in db.session
        _refuse(presented, client, refusal)

    def validate_token_request(self) -> None:
        """Rotation and scope; an online token's session still live (``session_end``); then
        the resources (RFC 8707 2.2): within the grant's, kept whole like the scope."""
        super().validate_token_request()
        presented = self.request.refresh_token
        if not presented.offline and not _session_live(presented.sid):
            raise InvalidGrantError("the sign-in session this refresh token belongs to has ended")
        granted = tuple(presented.resources or ())
        audience = resources.audience(self.request.client, flask_request.values, granted)
        tokens.issue_for(audience, granted)

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        """Unused: ``_validate_request_token`` does the lookup with rotation."""
        return None

    def authenticate_user(self, refresh_token: RotatedRefresh) -> Principal[SubjectRef] | None:
        """Only the user's id and ``sub``: a refresh issues no ID token, so it loads no ``User``.
        A disabled account's tokens, offline ones too, are ``invalid_grant`` (``User.enabled``)."""
        found = _SUBJECT.first(id=refresh_token.user_id)
        if found is None:
            raise InvalidGrantError("the account of this refresh token is disabled or gone")
        return Principal.of(SubjectRef(*found), refresh_token)

    def revoke_old_credential(self, refresh_token: RotatedRefresh) -> None:
        """Nothing to revoke: the old token was rotated atomically during validation. A reuse
        is audited here, in the same transaction as the successor it issued."""
        if self.reused is not None:
            audit.record(
                "refresh_reuse_within_interval",
                client_id=refresh_token.client_id,
                subject=self.request.user.user.sub,
                seconds_since_rotation=self.reused.seconds_since_rotation,
                superseded_jti=self.reused.superseded_jti,
            )


_SUBJECT = DriverStatement(
    select(User.id, User.sub).where(User.id == bindparam("id"), User.enabled)
)
_LIVE_SESSION = DriverStatement(
    select(LoginSession.id).where(
        LoginSession.id == bindparam("sid"),
        LoginSession.ended_at.is_(None),
        LoginSession.expires_at > bindparam("at"),
    )
)


def _session_live(sid: str | None) -> bool:
    """Whether the sign-in session an online refresh token is bound to has not ended."""
    return sid is not None and _LIVE_SESSION.first(sid=sid, at=now()) is not None


@dataclass(frozen=True)
class Reuse:
    """A just-rotated refresh token re-issued within the reuse interval."""

    seconds_since_rotation: int
    superseded_jti: str  # the access token issued with the successor that was retired


def _reuse_refusal(presented: PresentedRefresh | None, client, at: int) -> str | None:
    """Why ``presented`` may not be re-issued within the reuse interval, or ``None`` if it may
    (provided its successor is still unused): rotated at most the interval ago, not revoked,
    presented by the authenticated client it belongs to, its family still alive."""
    config = current_app.config
    if presented is None or presented.rotated_at is None:
        return "not_rotated"
    if presented.token.client_id != client.client_id:
        return "another_client"
    if presented.revoked_at is not None:
        return "revoked"
    if client.is_public and not config["REFRESH_REUSE_PUBLIC"]:
        return "public_client"  # nothing authenticates a public client: only where configured
    if config["REFRESH_REUSE_INTERVAL"] == 0:
        return "no_reuse_interval"
    if at - presented.rotated_at > config["REFRESH_REUSE_INTERVAL"]:
        return "after_interval"  # (a worker whose clock is behind sees a negative age: recent)
    if presented.token.family_expires_at <= at:
        return "family_expired"
    return None


def _refuse(presented: PresentedRefresh | None, client, reason: str) -> NoReturn:
    """Why a refresh token that could be neither rotated nor re-issued is refused.

    A rotated one is a replay whoever presents it (RFC 9700 4.14.2): its family is revoked,
    and the audit says why it was not re-issued (``reason``). A live one of another client is
    refused and left alone: it has not been used twice.
    """
    if presented is None:
        raise InvalidGrantError("refresh token is invalid or was issued to another client")
    if presented.rotated_at is not None:
        _revoke_family(presented.token, reason)
        raise InvalidGrantError("refresh token was already used")
    if presented.token.client_id != client.client_id:
        raise InvalidGrantError("refresh token is invalid or was issued to another client")
    if presented.revoked_at is not None:
        raise InvalidGrantError("refresh token was revoked")
    raise InvalidGrantError("refresh token has expired")


def _revoke_family(token: RotatedRefresh, reason: str) -> None:
    db.session.rollback()
    revoked = revoke_where(Token.family == token.family)
    audit.record(
        "refresh_replay_detected",
        outcome="failure",
        client_id=token.client_id,
        subject=audit.subject_of(token.user_id),
        tokens_revoked=revoked,
        reason=reason,
    )
    db.session.commit()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 4.4 for machine clients; confidential clients only."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        """Authlib's checks, then the resources asked for, each registered for the client."""
        super().validate_token_request()
        tokens.issue_for(resources.audience(self.request.client, flask_request.values, None), ())
