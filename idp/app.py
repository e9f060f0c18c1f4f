"""The Flask application factory: settings, extensions, blueprints, database pragmas."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from idp import config as settings
from idp.models.statements import begin

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory: settings from ``IDP_*`` variables, ``test_config`` overriding them."""
    values = settings.load(test_config)
    app = Flask(
        "idp",
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(Path(values["INSTANCE_PATH"]).resolve()),
    )
    app.config.update(values)
    app.config.update(_flask_settings(values))
    _init_extensions(app)
    _register_blueprints(app)
    return app


def _flask_settings(values: dict) -> dict:
    secure = urlsplit(values["ISSUER"]).scheme == "https"
    return {
        "SQLALCHEMY_DATABASE_URI": values["DATABASE_URL"],
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(values["DATABASE_URL"]),
        "SESSION_COOKIE_NAME": "idp_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "PERMANENT_SESSION_LIFETIME": values["SESSION_TTL"],
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_SSL_STRICT": secure,
    }


def _engine_options(url: str) -> dict:
    # A database error is logged whole (the 500 handler): never with its statement's parameters,
    # which may be a password hash, a digest or a factor's ciphertext.
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15}, "hide_parameters": True}
    return {"pool_recycle": 300, "hide_parameters": True}


def _init_extensions(app: Flask) -> None:
    from idp import audit
    from idp.extensions import csrf, db
    from idp.keys import audit_keys, encryption, signing
    from idp.oauth2 import logout_dispatcher, server
    from idp.web import outage, pages

    pages.init_app(app)  # first: its request checks run before CSRF protection reads the form
    db.init_app(app)
    csrf.init_app(app)
    outage.init_app(app)
    server.init_app(app)
    logout_dispatcher.init_app(app)  # no thread yet: serving entry points start it
    encryption.init_app(app)
    ttl = max(app.config["ACCESS_TOKEN_TTL"], app.config["ID_TOKEN_TTL"])
    store = signing.KeyStore(app.config["KEYS_DIR"], max_token_ttl=ttl)
    app.extensions["idp.keystore"] = store
    audit.init_app(app, audit_keys.AuditKeys.of(store))  # the chain's keys, from idp.keys
    if store.ensure(app.config["SIGNING_ALG"]):
        app.logger.warning("no signing key found: created one in %s", store.folder)


def _register_blueprints(app: Flask) -> None:
    import idp.views.admin.audit_log  # noqa: F401  (adds /admin/audit to console.bp)
    import idp.views.admin.authenticators  # noqa: F401  (adds /admin/authenticators)
    import idp.views.admin.clients  # noqa: F401  (adds /admin/clients to console.bp)
    import idp.views.admin.policy_windows  # noqa: F401  (adds /admin/policy/windows)
    import idp.views.admin.recovery  # noqa: F401  (adds /admin/recovery to console.bp)
    from idp.views import home, oauth, wellknown
    from idp.views.account import delivered_codes, offline_access, passkeys, profile, security
    from idp.views.admin import api, console, policy, user_actions  # noqa: F401 (join console.bp)
    from idp.views.signin import auth, delivered_code, enroll, mfa, passkey, recovery

    signin = (auth, mfa, passkey, delivered_code, enroll, recovery)
    account = (profile, security, passkeys, delivered_codes, offline_access)
    for module in (wellknown, oauth, *signin, *account, console, api, home):
        app.register_blueprint(module.bp)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite: enforce foreign keys, write-ahead logging (readers never wait for the writer),
    and leave BEGIN to us (``isolation_level = None``): see ``statements.begin``."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


@event.listens_for(Engine, "begin")
def _begin(conn) -> None:
    """Straight on the driver (``statements.begin``), as a ``DriverTransaction`` begins too."""
    begin(conn.dialect, conn.connection.dbapi_connection)
