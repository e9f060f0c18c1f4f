"""Issued tokens never reach the logs, whatever level the operator's log configuration sets.

Authlib logs each token response it issues at DEBUG (``Issue token {...}``), access and refresh
tokens included; an operator who turns on DEBUG to chase a problem must not get a file of live
credentials. In-process app on a throwaway SQLite database, signed in through the hosted pages
with the Flask test client, logs captured at DEBUG.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.exc import IntegrityError

import idp.db as schema
from idp.accounts import users
from idp.app import create_app
from idp.extensions import db
from idp.models import User
from idp.oauth2.registration import register
from tests.support.oidc import csrf_token, hidden

REDIRECT_URI = "http://localhost:9/cb"
PASSWORD = "correct horse battery staple"


def _code(browser, client_id: str, email: str, challenge: str) -> str:
    """/authorize, the sign-in form, back to /authorize: the code from the redirect."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid offline_access",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = browser.get(browser.get("/authorize", query_string=query).headers["Location"])
    html = page.get_data(as_text=True)
    form = {
        "csrf_token": csrf_token(html),
        "next": hidden(html, "next"),
        "email": email,
        "password": PASSWORD,
    }
    signed_in = browser.post("/login", data=form)
    location = browser.get(signed_in.headers["Location"]).headers["Location"]
    return parse_qs(urlsplit(location).query)["code"][0]


def test_token_responses_are_not_logged_even_at_debug(tmp_path, caplog):
    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
        }
    )
    with app.app_context():
        schema.upgrade()
        users.create("logged@example.com", PASSWORD)
        client, secret = register(name="Logged", redirect_uris=[REDIRECT_URI], first_party=True)
        db.session.commit()
        client_id = client.client_id
    auth = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    code = _code(app.test_client(), client_id, "logged@example.com", challenge)

    caplog.set_level(logging.DEBUG)
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    first = app.test_client().post("/token", data=exchange, headers=auth).get_json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = app.test_client().post("/token", data=refresh, headers=auth).get_json()

    logging.getLogger("idp.test").debug("probe")  # the capture does take DEBUG records
    assert "probe" in caplog.text
    issued = [first[k] for k in ("access_token", "refresh_token", "id_token")]
    issued += [second[k] for k in ("access_token", "refresh_token")]
    for value in issued:
        assert value.split(".")[-1] not in caplog.text  # not even a JWT's signature
    with app.app_context():
        db.engine.dispose()


def test_a_database_error_names_no_statement_parameters(tmp_path):
    """The 500 handler logs an unexpected database error whole; its message must not carry the
    statement's parameters (a password hash, say: two sign-ups racing for one email)."""
    app = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/t.db"})
    with app.app_context():
        schema.upgrade()
        users.create("racer@example.com", PASSWORD)
        db.session.commit()
        marker = "$argon2id$v=19$m=65536,t=3,p=4$" + secrets.token_hex(16)
        db.session.add(User(email="racer@example.com", password_hash=marker))
        with pytest.raises(IntegrityError) as raised:
            db.session.flush()
        db.session.rollback()
        db.engine.dispose()
    assert "racer@example.com" not in str(raised.value)
    assert marker not in str(raised.value)
