"""The Authlib authorization server, assembled with our grants, endpoints and storage."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import Client
from idp.oauth2 import grants, tokens
from idp.oauth2.endpoints import RPInitiatedLogout, TokenIntrospection, TokenRevocation

SCOPES_SUPPORTED = ["openid", "profile", "email", "offline_access"]


def query_client(client_id: str) -> Client | None:
    return db.session.execute(select(Client).where(Client.client_id == client_id)).scalar()


class Server(AuthorizationServer):
    """Authlib's Flask server with our token generator in place of its bearer default."""

    def create_bearer_token_generator(self, config):
        return tokens.generate_token


authorization = Server()


def init_app(app: Flask) -> None:
    app.config["OAUTH2_SCOPES_SUPPORTED"] = SCOPES_SUPPORTED
    authorization.init_app(app, query_client=query_client, save_token=tokens.save_token)
    if authorization._authorization_grants:
        return  # grants are registered once per process; init_app may run for several apps
    authorization.register_grant(
        grants.AuthorizationCodeGrant,
        [grants.S256CodeChallenge(required=True), grants.OpenIDConnectCode(require_nonce=False)],
    )
    authorization.register_grant(grants.RefreshTokenGrant)
    authorization.register_grant(grants.ClientCredentialsGrant)
    authorization.register_endpoint(TokenRevocation)
    authorization.register_endpoint(TokenIntrospection)
    authorization.register_endpoint(RPInitiatedLogout)
