"""``idp demo``: migrate, seed a demo user and the demo relying app, then run both.

The demo client is registered for back-channel logout (``DEMO_RP/backchannel-logout``), so
ending the provider session (signing out there, ``idp users end-sessions``) signs the demo app
out too. The demo client's secret is written to ``instance/demo_client.json`` (mode 600),
where the demo app reads it; re-running reuses it. The demo user's password is fixed and
printed: this is a development convenience and refuses to run with ``IDP_ENV=production``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from idp import db as schema
from idp.accounts import users
from idp.extensions import db
from idp.models import Client
from idp.oauth2 import logout_dispatcher, registration
from idp.web.devserver import RedactingRequestHandler

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 (printed demo credential)
DEMO_RP = "http://localhost:5001"
DEMO_BACKCHANNEL_LOGOUT_URI = f"{DEMO_RP}/backchannel-logout"


def run(app: Flask, serve: bool = True) -> None:
    if app.config["ENV"] == "production":
        raise click.ClickException("idp demo seeds a known password; it refuses production")
    with app.app_context():
        schema.upgrade()
        _seed_user()
        credentials = _seed_client(Path(app.instance_path) / "demo_client.json")
        db.session.commit()
    click.echo(
        f"\n  Provider:  {app.config['ISSUER']}\n  Demo app:  {DEMO_RP}\n"
        f"  Sign in as {DEMO_EMAIL} with password {DEMO_PASSWORD}\n"
    )
    if serve:
        _serve(app, credentials)


def _seed_user() -> None:
    if users.by_email(DEMO_EMAIL) is None:
        users.create(DEMO_EMAIL, DEMO_PASSWORD, name="Demo User", actor="demo")


def _seed_client(path: Path) -> dict:
    if path.exists():
        saved = json.loads(path.read_text())
        stmt = select(Client).where(Client.client_id == saved["client_id"])
        client = db.session.execute(stmt).scalar()
        if client is not None:
            if client.backchannel_logout_uri is None:  # seeded by a version without it
                registration.update(
                    client, actor="demo", backchannel_logout_uri=DEMO_BACKCHANNEL_LOGOUT_URI
                )
            return saved
    client, secret = registration.register(
        name="Demo relying app",
        redirect_uris=[f"{DEMO_RP}/callback"],
        post_logout_redirect_uris=[f"{DEMO_RP}/"],
        first_party=True,
        backchannel_logout_uri=DEMO_BACKCHANNEL_LOGOUT_URI,
    )
    saved = {"client_id": client.client_id, "client_secret": secret}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(saved, fh)
    return saved


def _serve(app: Flask, credentials: dict) -> None:
    env = {
        **os.environ,
        "DEMO_ISSUER": app.config["ISSUER"],
        "DEMO_CLIENT_ID": credentials["client_id"],
        "DEMO_CLIENT_SECRET": credentials["client_secret"],
        "DEMO_BASE_URL": DEMO_RP,
    }
    root = Path(__file__).resolve().parent.parent
    rp = subprocess.Popen(  # noqa: S603 (fixed argv, our own interpreter)
        [sys.executable, "-m", "examples.demo_rp.app", "--port", "5001"], cwd=root, env=env
    )
    try:
        logout_dispatcher.start(app)
        app.run(
            host="localhost",
            port=5000,
            threaded=True,
            use_reloader=False,
            request_handler=RedactingRequestHandler,
        )
    finally:
        rp.terminate()
        rp.wait(timeout=10)
