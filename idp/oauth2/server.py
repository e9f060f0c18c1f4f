"""The Authlib authorization server, assembled with our grants, endpoints and storage."""

from __future__ import annotations

import logging
from functools import cached_property
from urllib.parse import quote

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from flask import Flask, Request
from flask import request as flask_request
from sqlalchemy import bindparam, select

from idp.models import Client
from idp.models.statements import DriverStatement
from idp.oauth2 import errors, grants, scopes, tokens
from idp.oauth2.endpoints import RPInitiatedLogout, TokenIntrospection, TokenRevocation

#: Advertised in discovery: the OpenID Connect scopes. The admin API's scopes are accepted too
#: (Authlib refuses any scope not in ``OAUTH2_SCOPES_SUPPORTED``) but not advertised, as RFC 8414
#: 2 allows: only a machine client registered for one can be granted it.
SCOPES_SUPPORTED = list(scopes.OIDC_SCOPES)


def query_client(client_id: str) -> Client | None:
    """The registered client, ``None`` if unknown or disabled, read afresh on every call.

    One indexed single-row statement per request. A per-worker cache would save it but cannot be
    told of a change made in another worker or by the CLI (processes share only the database),
    and a rotated secret, a disabled client or a removed redirect URI must take effect at once.
    """
    found = _CLIENT.first(client_id=client_id)
    if found is None:
        return None
    client = Client(**dict(zip(_CLIENT_COLUMNS, found, strict=True)))
    return client if client.enabled else None  # a disabled client is unknown to every endpoint


_CLIENT_COLUMNS = tuple(Client.__table__.columns.keys())
# A statement, not the ORM: grants of tokens.SignAfterCommit run outside db.session.
_CLIENT = DriverStatement(
    select(*Client.__table__.columns).where(Client.client_id == bindparam("client_id"))
)


class _Payload(FlaskOAuth2Payload):
    """Authlib reads ``payload.data`` many times per request; Flask rebuilds it every time."""

    @cached_property
    def data(self):
        return self._request.values


class _Request(FlaskOAuth2Request):
    """Authlib's view of the Flask request, without two costs every token request would pay.

    The stock one passes ``request.url``, which werkzeug converts to an IRI, though Authlib only
    reads ``uri`` to refuse plain http (``InsecureTransportError``); and it stores
    ``headers or {}``, which counts every header of the WSGI environ.
    """

    def __init__(self, request: Request) -> None:
        OAuth2Request.__init__(self, request.method, _uri(request))
        self.headers = request.headers
        self._request = request
        self.payload = _Payload(request)


def _uri(request: Request) -> str:
    """The request's URI (percent-encoded, as sent) from its parts."""
    uri = f"{request.scheme}://{request.host}{quote(request.root_path + request.path)}"
    query = request.query_string
    return f"{uri}?{query.decode('ascii', 'replace')}" if query else uri


class Server(AuthorizationServer):
    """Authlib's Flask server with our token generator in place of its bearer default, and
    refusals of an unknown ``response_type`` or ``grant_type`` whose text does not quote it
    (``errors``): Authlib's does, and fails with ``ValueError`` (a 500) on a ``"`` in it."""

    def create_bearer_token_generator(self, config):
        return tokens.generate_token

    def create_oauth2_request(self, request) -> FlaskOAuth2Request:
        return _Request(flask_request)

    def get_authorization_grant(self, request):
        """The grant of the request's ``response_type``, or ``unsupported_response_type``: sent
        to the redirect URI if the client registered it, with the request's ``state`` (RFC 6749
        4.1.2.1; Authlib leaves it out)."""
        if any(
            grant.check_authorization_endpoint(request) for grant, _ in self._authorization_grants
        ):
            return super().get_authorization_grant(request)
        raise errors.UnsupportedResponseTypeError(
            state=request.payload.state, redirect_uri=self._error_redirect_uri(request)
        )

    def get_token_grant(self, request):
        """The grant of the request's ``grant_type``, or ``unsupported_grant_type`` (RFC 6749
        5.2)."""
        if any(grant.check_token_endpoint(request) for grant, _ in self._token_grants):
            return super().get_token_grant(request)
        raise errors.UnsupportedGrantTypeError()

    def _error_redirect_uri(self, request) -> str | None:
        """Where an authorization error may be sent before a grant validated the request: the
        redirect URI its client registered (or the client's only one), else nowhere."""
        client = self.query_client(request.payload.client_id) if request.payload.client_id else None
        if client is None:
            return None
        uri = request.payload.redirect_uri
        if not uri:
            return client.get_default_redirect_uri()
        return uri if client.check_redirect_uri(uri) else None


authorization = Server()


def client_secret_basic(query_client, request) -> Client | None:
    """RFC 6749 2.3.1 over HTTP Basic (RFC 7617). A malformed header (a scheme with no
    credentials, credentials that are not UTF-8) authenticates nobody, which ends in
    ``invalid_client`` like any failed authentication: Authlib unpacks and decodes the header
    unguarded, and its ``ValueError`` would otherwise be a 500."""
    try:
        return authenticate_client_secret_basic(query_client, request)
    except ValueError:
        return None


def init_app(app: Flask) -> None:
    # Authlib logs every token response it issues at DEBUG, tokens included: no log
    # configuration may write live credentials, so its records stop at INFO.
    logging.getLogger("authlib").setLevel(logging.INFO)
    app.config["OAUTH2_SCOPES_SUPPORTED"] = list(scopes.KNOWN)
    authorization.init_app(app, query_client=query_client, save_token=tokens.save_token)
    authorization.register_client_auth_method("client_secret_basic", client_secret_basic)
    if authorization._authorization_grants:
        return  # grants are registered once per process; init_app may run for several apps
    authorization.register_grant(
        grants.AuthorizationCodeGrant,
        [grants.S256CodeChallenge(required=True), grants.OpenIDConnectCode(require_nonce=False)],
    )
    authorization.register_grant(grants.RefreshTokenGrant, [tokens.SignAfterCommit()])
    authorization.register_grant(grants.ClientCredentialsGrant, [tokens.SignAfterCommit()])
    authorization.register_endpoint(TokenRevocation)
    authorization.register_endpoint(TokenIntrospection)
    authorization.register_endpoint(RPInitiatedLogout)
