"""Discovery (OIDC Discovery 1.0, RFC 8414) and the JWKS: exactly what is supported."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from idp.oauth2 import signing
from idp.oauth2.authorization import RESPONSE_MODES
from idp.oauth2.claims import CLAIMS_SUPPORTED
from idp.oauth2.server import SCOPES_SUPPORTED

bp = Blueprint("wellknown", __name__)

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


@bp.route("/.well-known/openid-configuration")
def openid_configuration():
    issuer = current_app.config["ISSUER"]
    algs = sorted({k["alg"] for k in signing.keystore().jwks()["keys"]})
    response = jsonify(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/authorize",
        token_endpoint=f"{issuer}/token",
        userinfo_endpoint=f"{issuer}/userinfo",
        jwks_uri=f"{issuer}/jwks.json",
        end_session_endpoint=f"{issuer}/logout",
        revocation_endpoint=f"{issuer}/revoke",
        introspection_endpoint=f"{issuer}/introspect",
        scopes_supported=SCOPES_SUPPORTED,
        response_types_supported=["code"],
        response_modes_supported=list(RESPONSE_MODES),
        grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=algs,
        token_endpoint_auth_methods_supported=AUTH_METHODS,
        revocation_endpoint_auth_methods_supported=AUTH_METHODS,
        introspection_endpoint_auth_methods_supported=AUTH_METHODS,
        code_challenge_methods_supported=["S256"],
        claims_supported=list(CLAIMS_SUPPORTED),
        acr_values_supported=list(current_app.config["ACR_LEVELS"].supported),
        prompt_values_supported=["none", "login", "consent"],
        claims_parameter_supported=True,
        request_parameter_supported=False,
        request_uri_parameter_supported=False,
        authorization_response_iss_parameter_supported=True,  # RFC 9207 section 3
        # OIDC Back-Channel Logout 1.0 2.1: every logout token carries the session's sid.
        backchannel_logout_supported=True,
        backchannel_logout_session_supported=True,
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/jwks.json")
def jwks():
    response = jsonify(signing.keystore().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
