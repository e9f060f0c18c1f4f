"""Demo relying party (RP) for the idp OpenID Connect provider.

It exists to show, end to end, what a real client sees: the authorization code flow with
PKCE (S256), state and nonce, a validated ID token (signature against the JWKS, iss, aud,
nonce, exp), a UserInfo call, RP-initiated logout, and back-channel logout (OIDC Back-Channel
Logout 1.0, ``examples.demo_rp.backchannel``): when the provider session ends, by the demo's
sign-out button or anywhere else, the provider POSTs a logout token to ``/backchannel-logout``
and the demo's session for that ``sid`` is signed out at its next request. All protocol work
is delegated to Authlib's Flask client so the demo exercises the provider the way ordinary
clients do.

It also shows step-up (the client side of RFC 9470) with ``idp.rp``: the profile page needs
any sign-in, *Billing* the MFA level, *Delete account* a phishing-resistant one (``phr``) at
most five minutes old. A page whose requirement the session's ID token does not meet sends
the user back to the provider with ``acr_values`` (and ``max_age``), then returns to that page.

Run from the project root::

    python -m examples.demo_rp.app --port 5001

Settings come from environment variables (a ``config`` dict passed to :func:`create_app`
overrides them): ``DEMO_ISSUER``, ``DEMO_CLIENT_ID``, ``DEMO_CLIENT_SECRET``,
``DEMO_BASE_URL`` and ``DEMO_SECRET_KEY``. Without ``DEMO_CLIENT_ID`` the client
credentials are read from ``instance/demo_client.json`` (written by ``idp demo``).
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth, OAuthError
from flask import Flask, jsonify, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from examples.demo_rp.backchannel import EndedSessions, InvalidLogoutToken, LogoutTokenVerifier
from idp.rp import (
    MFA,
    PHR,
    UNMET_AUTHENTICATION_REQUIREMENTS,
    Authentication,
    Requirement,
    RPError,
    TokenVerifier,
    authorization_params,
)

CLIENT_FILE = Path("instance") / "demo_client.json"

#: Failures that can happen while talking to the provider; all become a friendly error page.
PROVIDER_ERRORS: tuple[type[Exception], ...] = (
    AuthlibBaseError,
    JoseError,
    requests.RequestException,
    RPError,
    ValueError,
    KeyError,
    RuntimeError,
)


@dataclass(frozen=True)
class Protected:
    """A page that needs more than a signed-in user, and how to ask the provider for it.

    ``essential`` sends the acr as essential in the ``claims`` parameter, so a provider that
    cannot reach it answers ``unmet_authentication_requirements`` instead of a weaker token.
    """

    title: str
    requirement: Requirement
    needs: str  # what the page asks for, in words
    missing: str  # what the account lacks when the provider cannot meet the requirement
    essential: bool = False


PROTECTED = {
    "billing": Protected(
        "Billing",
        Requirement(acr_values=(MFA,)),
        needs="two-step verification",
        missing="second factor (an authenticator app or a passkey)",
    ),
    "delete_account": Protected(
        "Delete account",
        Requirement(acr_values=(PHR,), max_age=300),
        needs="a phishing-resistant sign-in (a passkey) in the last five minutes",
        missing="phishing-resistant factor (a passkey)",
        essential=True,
    ),
}


class ConfigError(RuntimeError):
    """Raised when the demo cannot find client credentials; the message is one line."""


def _setting(config: dict[str, Any], name: str, default: str | None = None) -> str | None:
    """Look a setting up in the explicit config first, then the environment."""
    if config.get(name):
        return str(config[name])
    return os.environ.get(name) or default


def load_settings(config: dict[str, Any] | None = None) -> dict[str, str]:
    """Resolve all settings, falling back to the client file written by ``idp demo``."""
    config = config or {}
    issuer = (_setting(config, "DEMO_ISSUER", "http://localhost:5000") or "").rstrip("/")
    base_url = (_setting(config, "DEMO_BASE_URL", "http://localhost:5001") or "").rstrip("/")
    client_id = _setting(config, "DEMO_CLIENT_ID")
    client_secret = _setting(config, "DEMO_CLIENT_SECRET")
    if not client_id:
        path = Path.cwd() / CLIENT_FILE
        if not path.is_file():
            raise ConfigError(
                f"No client configured: set DEMO_CLIENT_ID and DEMO_CLIENT_SECRET, "
                f"or run `idp demo` to write {path}"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            client_id, client_secret = data["client_id"], data["client_secret"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"Cannot read client_id/client_secret from {path}: {exc}") from exc
    if not client_secret:
        raise ConfigError("DEMO_CLIENT_SECRET is required: the demo is a confidential client")
    return {
        "issuer": issuer,
        "base_url": base_url,
        "client_id": str(client_id),
        "client_secret": str(client_secret),
        "secret_key": _setting(config, "DEMO_SECRET_KEY") or secrets.token_hex(32),
    }


def _utc(timestamp: Any) -> str | None:
    """Render an epoch-seconds claim as a readable UTC time, or None if it is not one."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _describe(exc: Exception) -> tuple[str, str]:
    """Turn any provider-side failure into an (error code, description) pair for display."""
    code = getattr(exc, "error", None) or type(exc).__name__
    description = getattr(exc, "description", None) or str(exc) or "No further details."
    return str(code), str(description)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the demo RP. Discovery is fetched lazily, so the provider may start later."""
    settings = load_settings(config)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings["secret_key"],
        # The provider usually runs on the same host (another port) and cookies ignore
        # ports, so a distinct name keeps the two sessions from overwriting each other.
        SESSION_COOKIE_NAME="demo_rp_session",
        SESSION_COOKIE_HTTPONLY=True,
        # Lax lets the cookie come back on the provider's top-level redirect to /callback.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["base_url"].startswith("https://"),
        DEMO_SETTINGS=settings,
    )
    redirect_uri = f"{settings['base_url']}/callback"
    post_logout_uri = f"{settings['base_url']}/"

    oauth = OAuth(app)
    idp = oauth.register(
        name="idp",
        client_id=settings["client_id"],
        client_secret=settings["client_secret"],
        server_metadata_url=f"{settings['issuer']}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid email profile",
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
            "default_timeout": 10,
        },
    )

    verifier = TokenVerifier(settings["issuer"], audience=settings["client_id"])
    logout_tokens = LogoutTokenVerifier(settings["issuer"], settings["client_id"], verifier.keys)
    ended = app.extensions["demo_rp.ended_sessions"] = EndedSessions()

    @app.before_request
    def signed_out_at_the_provider() -> None:
        """A session whose provider session ended (a logout token said so) is over here too."""
        user = session.get("user")
        if user and ended.ended(user["claims"]):
            session.clear()

    @app.post("/backchannel-logout")
    def backchannel_logout() -> tuple[Response, int]:
        """OIDC Back-Channel Logout 1.0 2.5-2.8: the provider says a session ended. No cookie
        comes with it: remember the sid, and sign its browser out at its next request."""
        try:
            logout = logout_tokens.verify(request.form.get("logout_token", ""))
        except InvalidLogoutToken as exc:
            response = jsonify(error="invalid_request", error_description=str(exc))
            response.headers["Cache-Control"] = "no-store"
            return response, 400
        ended.add(logout)
        response = jsonify(status="signed out")
        response.headers["Cache-Control"] = "no-store"
        return response, 200

    def error_page(code: str, description: str, status: int) -> tuple[str, int]:
        """Show provider or exchange failures to the user instead of a stack trace."""
        return render_template("error.html", code=code, description=description), status

    def provider_error(exc: Exception, status: int) -> tuple[str, int]:
        """Name the common "provider is not running" case plainly; describe the rest."""
        if isinstance(exc, requests.ConnectionError):
            return error_page("provider_unreachable", f"Cannot reach {settings['issuer']}.", status)
        return error_page(*_describe(exc), status=status)

    @app.get("/")
    def home() -> str:
        """Signed out: offer sign-in. Signed in: show what the provider told us."""
        user = session.get("user")
        claims = user["claims"] if user else {}
        amr = claims.get("amr")
        return render_template(
            "home.html",
            user=user,
            claims=claims,
            amr=", ".join(map(str, amr)) if isinstance(amr, list) else amr,
            auth_time_utc=_utc(claims.get("auth_time")),
            userinfo_json=json.dumps(user["userinfo"], indent=2, sort_keys=True) if user else "",
            issuer=settings["issuer"],
        )

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response | tuple[str, int]:
        """Start the code flow; Authlib adds state, nonce and the PKCE challenge."""
        try:
            return idp.authorize_redirect(redirect_uri)
        except PROVIDER_ERRORS as exc:
            return provider_error(exc, 502)

    @app.get("/callback")
    def callback() -> Response | tuple[str, int]:
        """Finish the code flow and keep the validated claims plus UserInfo in the session.

        After a step-up, go back to the page that asked for it, or say why that cannot be.
        """
        pending = session.pop("step_up", None)
        page = PROTECTED.get(pending["page"]) if pending else None
        try:
            # Raises on ?error=..., a state mismatch, a failed exchange or a bad ID token.
            token = idp.authorize_access_token()
            if not token.get("userinfo"):
                return error_page("invalid_response", "The provider returned no ID token.", 400)
            # Authlib checked the nonce; idp.rp checks the ID token again and reads acr/amr.
            claims = dict(verifier.verify_id_token(token["id_token"]).claims)
            userinfo = dict(idp.userinfo(token=token))
        except OAuthError as exc:
            if exc.error == UNMET_AUTHENTICATION_REQUIREMENTS and page is not None:
                return unmet_page(page, exc.description)
            return provider_error(exc, 400)
        except PROVIDER_ERRORS as exc:
            return provider_error(exc, 400)
        if userinfo.get("sub") != claims.get("sub"):
            # OIDC Core 5.3.2: UserInfo must describe the same subject as the ID token.
            return error_page("invalid_userinfo", "UserInfo sub does not match the ID token.", 400)
        session.clear()
        session["user"] = {
            "claims": claims,
            "userinfo": userinfo,
            "id_token": token["id_token"],
        }
        if page is None:
            return redirect(url_for("home"), code=303)
        if not page.requirement.satisfied_by(Authentication.from_claims(claims)):
            # acr_values alone are voluntary (OIDC Core 3.1.2.1): the provider may answer lower.
            return unmet_page(page, f"The provider signed you in at level {claims.get('acr')}.")
        return redirect(pending["next"], code=303)

    def unmet_page(page: Protected, detail: str | None) -> tuple[str, int]:
        """The provider cannot reach the level: say what the account lacks and where to add it."""
        return render_template(
            "step_up_unmet.html",
            page=page,
            detail=detail,
            security_url=f"{settings['issuer']}/account/security",
        ), 403

    def step_up(name: str) -> Response | None:
        """None if the session meets the page's requirement; else the redirect that asks for it.

        Signed out, the same redirect signs the user in at the right level in one trip.
        """
        page, user = PROTECTED[name], session.get("user")
        if user and page.requirement.satisfied_by(Authentication.from_claims(user["claims"])):
            return None
        session["step_up"] = {"page": name, "next": url_for(name)}
        params = authorization_params(page.requirement, essential_acr=page.essential)
        return idp.authorize_redirect(redirect_uri, **params)

    def csrf_token() -> str:
        """A per-session synchronizer token for the demo's one state-changing form."""
        if "csrf_token" not in session:
            session["csrf_token"] = secrets.token_urlsafe(32)
        return session["csrf_token"]

    def render_protected(template: str, name: str, **context: Any) -> str:
        claims = session["user"]["claims"]
        amr = claims.get("amr")
        return render_template(
            template,
            page=PROTECTED[name],
            claims=claims,
            amr=", ".join(map(str, amr)) if isinstance(amr, list) else amr,
            auth_time_utc=_utc(claims.get("auth_time")),
            **context,
        )

    @app.get("/billing")
    def billing() -> Response | str | tuple[str, int]:
        """Needs the MFA level: a password-only session is sent to the provider first."""
        try:
            asked = step_up("billing")
        except PROVIDER_ERRORS as exc:
            return provider_error(exc, 502)
        return asked or render_protected("billing.html", "billing")

    @app.route("/account/delete", methods=["GET", "POST"], endpoint="delete_account")
    def delete_account() -> Response | str | tuple[str, int]:
        """Needs ``phr`` within five minutes, checked again when the form is sent."""
        if request.method == "POST":
            sent = request.form.get("csrf_token", "")
            if "csrf_token" not in session or not hmac.compare_digest(
                sent.encode(), session["csrf_token"].encode()
            ):
                return error_page("csrf", "The form expired; open the page again.", 400)
        try:
            asked = step_up("delete_account")
        except PROVIDER_ERRORS as exc:
            return provider_error(exc, 502)
        if asked is not None:
            return asked
        if request.method == "POST":
            return render_protected("delete_account.html", "delete_account", deleted=True)
        return render_protected(
            "delete_account.html", "delete_account", deleted=False, csrf_token=csrf_token()
        )

    @app.post("/logout")
    def logout() -> Response | tuple[str, int]:
        """Drop the local session, then ask the provider to end its session too."""
        user = session.pop("user", None)
        session.clear()
        if not user:
            return redirect(url_for("home"), code=303)
        try:
            result = idp.create_logout_url(
                post_logout_redirect_uri=post_logout_uri,
                id_token_hint=user["id_token"],
                state=secrets.token_urlsafe(16),
            )
        except PROVIDER_ERRORS as exc:
            code, description = _describe(exc)
            return error_page(code, f"Signed out locally only. {description}", 502)
        return redirect(result["url"], code=303)

    return app


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: ``python -m examples.demo_rp.app [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(description="Run the idp demo relying party.")
    parser.add_argument("--host", default="localhost", help="interface to bind (localhost)")
    parser.add_argument("--port", type=int, default=5001, help="port to listen on (5001)")
    args = parser.parse_args(argv)
    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(f"demo_rp: {exc}")
    app.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
